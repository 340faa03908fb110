// PackModel over a range of a pack's layers (a pipeline stage's slice): the model has that
// many layers, streams exactly their extents (a corrupt layer outside the range is never
// read), and a range outside the pack is refused with a message naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/pack_model.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

TEST(PackModelRange, RunsOnlyItsSliceOfLayers) {
  TempDir dir("pack_range");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  // Corrupt layer 0's first byte: a slice that starts later must never read it.
  const Pack pack = *Pack::Open(po.out_dir);
  {
    std::fstream f(pack.data_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(pack.layer_extent(0).offset));
    f.put('\x7f');
  }
  CpuBackend backend;
  PackModelOptions o;
  o.first_layer = 3;
  o.num_layers = 2;
  o.gpu_layers = 0;
  o.pinned_layers = 1;
  o.prefetch_ssd = 1;
  o.prefetch_h2d = 1;
  o.verify_streamed = true;
  o.engine.max_batch_tokens = 16;
  o.engine.max_seq_len = 16;
  StatusOr<std::unique_ptr<PackModel>> m = PackModel::Open(backend, po.out_dir, o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->first_layer(), 3);
  EXPECT_EQ((*m)->model().config().num_layers, 2);
  const int32_t slot = *(*m)->model().kv_cache().Acquire();
  BatchLayout batch;
  const int32_t ids[3] = {128000, 791, 6864};
  batch.Add(slot, 0, ids, 3);
  // A middle stage: no embedding, no head; activations in, activations out.
  std::vector<float> logits;
  Status no_embed = (*m)->model().Forward(batch, LogitsMode::kLastToken, &logits);
  EXPECT_THAT(no_embed.message(), HasSubstr("has no embedding"));
  const std::vector<float> in(3 * 64, 0.25f);
  std::vector<float> out(in.size());
  Status st = (*m)->model().ForwardStage(batch, in, out.data(), LogitsMode::kLastToken, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ((*m)->executor().last_pass().layers.size(), 2u);
  EXPECT_NE(out, in);

  // The whole pack reads layer 0 and finds it corrupt.
  o.first_layer = 0;
  o.num_layers = -1;
  StatusOr<std::unique_ptr<PackModel>> whole = PackModel::Open(backend, po.out_dir, o);
  ASSERT_FALSE(whole.ok());
  EXPECT_THAT(whole.status().message(), HasSubstr("layer.0"));
}

// Two stages [0, 2) and [2, 6) passing activations reproduce the whole model's logits bit
// for bit, over a prompt and decode steps — what a two-worker cluster relies on.
TEST(PackModelRange, StagesChainedGiveTheWholeModelsLogits) {
  TempDir dir("pack_stages");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  CpuBackend backend;
  auto open = [&](int32_t first, int32_t count) {
    PackModelOptions o;
    o.first_layer = first;
    o.num_layers = count;
    o.gpu_layers = count;
    o.pinned_layers = 0;
    o.prefetch_ssd = 1;
    o.prefetch_h2d = 1;
    o.engine.max_batch_tokens = 16;
    o.engine.max_seq_len = 16;
    StatusOr<std::unique_ptr<PackModel>> m = PackModel::Open(backend, po.out_dir, o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  };
  std::unique_ptr<PackModel> whole = open(0, 6), a = open(0, 2), b = open(2, 4);
  ASSERT_TRUE(whole && a && b);
  const int32_t sw = *whole->model().kv_cache().Acquire();
  const int32_t sa = *a->model().kv_cache().Acquire();
  const int32_t sb = *b->model().kv_cache().Acquire();
  std::vector<int32_t> step = {128000, 791, 6864, 315, 9822, 374};
  int32_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    BatchLayout bw, ba, bb;
    bw.Add(sw, pos, step.data(), static_cast<int32_t>(step.size()));
    ba.Add(sa, pos, step.data(), static_cast<int32_t>(step.size()));
    bb.Add(sb, pos, step.data(), static_cast<int32_t>(step.size()));
    std::vector<float> want, got, hidden(step.size() * 64);
    ASSERT_TRUE(whole->model().Forward(bw, LogitsMode::kLastToken, &want).ok());
    ASSERT_TRUE(a->model().ForwardStage(ba, {}, hidden.data(), LogitsMode::kLastToken, nullptr).ok());
    ASSERT_TRUE(b->model().ForwardStage(bb, hidden, nullptr, LogitsMode::kLastToken, &got).ok());
    ASSERT_EQ(got, want) << "step " << i;
    pos += static_cast<int32_t>(step.size());
    step = {static_cast<int32_t>(std::max_element(want.begin(), want.end()) - want.begin())};
  }
}

TEST(PackModelRange, RefusesARangeOutsideThePack) {
  TempDir dir("pack_range_bad");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  CpuBackend backend;
  PackModelOptions o;
  o.first_layer = 5;
  o.num_layers = 2;
  StatusOr<std::unique_ptr<PackModel>> m = PackModel::Open(backend, po.out_dir, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("layer range [5, 7) is not inside the 6 layers"));
}

}  // namespace
}  // namespace strata::testing
