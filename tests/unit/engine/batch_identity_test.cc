// The engine's batch contract: sequences batched together get the logits they get alone, and
// a prompt prefilled in chunks of any size gives the logits of one whole-prompt pass.
#include <gtest/gtest.h>

#include "tests/unit/engine/tiny_model.h"

namespace strata::testing {
namespace {

std::vector<float> LastLogitsAlone(const ReferenceCase& c) {
  ServingLimits o;
  o.max_batch_tokens = 64;
  o.max_seq_len = 64;
  auto tiny = LoadTinyModel(o);
  const int32_t slot = *tiny->model->kv_cache().Acquire();
  BatchLayout batch;
  batch.Add(slot, 0, c.input_ids.data(), static_cast<int32_t>(c.input_ids.size()));
  std::vector<float> logits;
  EXPECT_TRUE(tiny->model->Forward(batch, LogitsMode::kLastToken, &logits).ok());
  return logits;
}

TEST(BatchIdentity, BatchedSequencesMatchTheirSoloRuns) {
  const auto& cases = ReferenceCases();
  ServingLimits o;
  o.max_batch_tokens = 128;
  o.max_seq_len = 64;
  o.kv_slots = static_cast<int32_t>(cases.size());
  auto tiny = LoadTinyModel(o);
  ASSERT_NE(tiny, nullptr);
  BatchLayout batch;
  for (const ReferenceCase& c : cases) {
    const int32_t slot = *tiny->model->kv_cache().Acquire();
    batch.Add(slot, 0, c.input_ids.data(), static_cast<int32_t>(c.input_ids.size()));
  }
  std::vector<float> logits;
  ASSERT_TRUE(tiny->model->Forward(batch, LogitsMode::kLastToken, &logits).ok());
  const size_t vocab = static_cast<size_t>(tiny->model->config().vocab_size);
  ASSERT_EQ(logits.size(), cases.size() * vocab);
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<float> row(logits.begin() + static_cast<std::ptrdiff_t>(i * vocab),
                           logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * vocab));
    EXPECT_LT(MaxRelativeError(row, LastLogitsAlone(cases[i])), 1e-5) << "sequence " << i;
    EXPECT_LT(MaxRelativeError(row, cases[i].logits_last), 1e-4) << "sequence " << i;
  }
}

TEST(BatchIdentity, ChunkedPrefillMatchesWholePrompt) {
  const ReferenceCase& c = ReferenceCases()[2];  // the longest plain prompt
  const std::vector<float> whole = LastLogitsAlone(c);
  for (int32_t chunk : {1, 3, 7, 16}) {
    ServingLimits o;
    o.max_batch_tokens = chunk;
    o.max_seq_len = 64;
    auto tiny = LoadTinyModel(o);
    ASSERT_NE(tiny, nullptr);
    const int32_t slot = *tiny->model->kv_cache().Acquire();
    std::vector<float> logits;
    const int32_t n = static_cast<int32_t>(c.input_ids.size());
    for (int32_t done = 0; done < n; done += chunk) {
      BatchLayout batch;
      batch.Add(slot, done, c.input_ids.data() + done, std::min(chunk, n - done));
      ASSERT_TRUE(tiny->model->Forward(batch, LogitsMode::kLastToken, &logits).ok());
    }
    EXPECT_LT(MaxRelativeError(logits, whole), 1e-5) << "chunk " << chunk;
  }
}

TEST(BatchIdentity, MixedPrefillAndDecodeInOneBatch) {
  // Sequence A decodes one token while sequence B prefills: both match their solo runs.
  const auto& cases = ReferenceCases();
  const ReferenceCase& a = cases[0];
  const ReferenceCase& b = cases[1];
  ServingLimits o;
  o.max_batch_tokens = 64;
  o.max_seq_len = 64;
  o.kv_slots = 2;
  auto tiny = LoadTinyModel(o);
  ASSERT_NE(tiny, nullptr);
  const int32_t sa = *tiny->model->kv_cache().Acquire();
  const int32_t sb = *tiny->model->kv_cache().Acquire();
  const int32_t na = static_cast<int32_t>(a.input_ids.size());
  std::vector<float> logits;
  BatchLayout first;
  first.Add(sa, 0, a.input_ids.data(), na - 1);
  ASSERT_TRUE(tiny->model->Forward(first, LogitsMode::kLastToken, &logits).ok());
  BatchLayout mixed;
  mixed.Add(sa, na - 1, a.input_ids.data() + na - 1, 1);
  mixed.Add(sb, 0, b.input_ids.data(), static_cast<int32_t>(b.input_ids.size()));
  ASSERT_TRUE(tiny->model->Forward(mixed, LogitsMode::kLastToken, &logits).ok());
  const size_t vocab = static_cast<size_t>(tiny->model->config().vocab_size);
  std::vector<float> row_a(logits.begin(), logits.begin() + static_cast<std::ptrdiff_t>(vocab));
  std::vector<float> row_b(logits.begin() + static_cast<std::ptrdiff_t>(vocab), logits.end());
  EXPECT_LT(MaxRelativeError(row_a, a.logits_last), 1e-4);
  EXPECT_LT(MaxRelativeError(row_b, b.logits_last), 1e-4);
}

TEST(BatchValidation, RejectsBadBatchesWithoutChangingState) {
  ServingLimits o;
  o.max_batch_tokens = 8;
  o.max_seq_len = 10;
  auto tiny = LoadTinyModel(o);
  ASSERT_NE(tiny, nullptr);
  LlamaModel& m = *tiny->model;
  const int32_t slot = *m.kv_cache().Acquire();
  std::vector<float> logits;
  auto run = [&](int32_t s, int32_t start, std::vector<int32_t> ids) {
    BatchLayout b;
    b.Add(s, start, ids.data(), static_cast<int32_t>(ids.size()));
    return m.Forward(b, LogitsMode::kLastToken, &logits);
  };
  Status st = run(slot, 0, {1, 128256});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("128256"), std::string::npos) << st.message();
  EXPECT_EQ(run(slot, 0, {1, -5}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run(slot, 0, std::vector<int32_t>(9, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(run(slot, 3, {1}).code(), StatusCode::kInvalidArgument);     // cache holds 0
  EXPECT_EQ(run(slot + 1, 0, {1}).code(), StatusCode::kInvalidArgument);  // not acquired
  EXPECT_EQ(m.kv_cache().length(slot), 0);
  ASSERT_TRUE(run(slot, 0, {1, 2, 3, 4, 5, 6, 7, 8}).ok());
  st = run(slot, 8, {1, 2, 3});  // 11 positions > max_seq_len 10
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("context"), std::string::npos) << st.message();
  EXPECT_EQ(m.kv_cache().length(slot), 8);
  EXPECT_TRUE(run(slot, 8, {1, 2}).ok());
}

}  // namespace
}  // namespace strata::testing
