// The embedding table in host memory (EndWeights::embed_on_host): a model that gathers its
// tokens' rows on the host gives logits and activations bit-identical to one whose backend
// embeds from a device table, over batched prefills, decode steps and chunked prompts; it
// allocates its pinned gather buffer once, at Create, and a stage with no table is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <span>
#include <vector>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/llama_model.h"
#include "common/model/checkpoint.h"
#include "tests/support/reference_fixture.h"

namespace strata::testing {
namespace {

// The CPU backend, counting the calls that say which embedding path ran and what was allocated.
class CountingBackend final : public CpuBackend {
 public:
  StatusOr<DeviceBuffer> Allocate(size_t bytes) override {
    ++allocations;
    return CpuBackend::Allocate(bytes);
  }
  StatusOr<DeviceBuffer> AllocatePinned(size_t bytes) override {
    ++allocations;
    pinned_bytes += bytes;
    StatusOr<DeviceBuffer> buffer = CpuBackend::AllocatePinned(bytes);
    if (buffer.ok()) pinned = buffer->get();
    return buffer;
  }
  void CopyToDeviceAsync(void* dst, const void* src, size_t bytes, Stream stream) override {
    if (src == pinned && stream == Stream::kCompute) ++copies_from_pinned;
    CpuBackend::CopyToDeviceAsync(dst, src, bytes, stream);
  }
  void Embed(const WeightView& table, Tensor out) override {
    ++embeds;
    CpuBackend::Embed(table, out);
  }

  int allocations = 0;
  size_t pinned_bytes = 0;
  const std::byte* pinned = nullptr;  // the last pinned buffer handed out
  int copies_from_pinned = 0;
  int embeds = 0;
};

// A model over the first `num_layers` layers of the tiny checkpoint, with the final norm and
// LM head when `head`, and its embedding table read by the backend or gathered on the host.
struct Stage {
  std::unique_ptr<Checkpoint> checkpoint;
  CountingBackend backend;
  std::unique_ptr<ResidentLayers> feed;
  std::unique_ptr<LlamaModel> model;
};

std::unique_ptr<Stage> OpenStage(bool embed_on_host, const ServingLimits& options,
                                 int32_t num_layers = 6, bool head = true) {
  auto s = std::make_unique<Stage>();
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(TinyModelDir());
  EXPECT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  if (!ckpt.ok()) return nullptr;
  s->checkpoint = std::make_unique<Checkpoint>(std::move(ckpt).value());
  StatusOr<LlamaWeights> weights = BindLlamaWeights(*s->checkpoint);
  EXPECT_TRUE(weights.ok()) << weights.status().ToString();
  if (!weights.ok()) return nullptr;
  weights->layers.resize(static_cast<size_t>(num_layers));
  s->feed = std::make_unique<ResidentLayers>(std::move(weights->layers));
  EndWeights ends;
  ends.embed = weights->embed;  // the memory-mapped checkpoint: host memory
  ends.embed_on_host = embed_on_host;
  if (head) {
    ends.final_norm = weights->final_norm;
    ends.lm_head = weights->lm_head;
  }
  ModelConfig config = s->checkpoint->config();
  config.num_layers = num_layers;
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::Create(s->backend, config, ends, *s->feed, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return nullptr;
  s->model = std::move(model).value();
  return s;
}

std::vector<int32_t> AcquireSlots(LlamaModel& model, size_t n) {
  std::vector<int32_t> slots;
  for (size_t i = 0; i < n; ++i) slots.push_back(*model.kv_cache().Acquire());
  return slots;
}

// Each row's argmax: the next token of each sequence.
std::vector<int32_t> ArgMaxRows(const std::vector<float>& logits, size_t vocab) {
  std::vector<int32_t> ids;
  for (auto row = logits.begin(); row != logits.end(); row += static_cast<std::ptrdiff_t>(vocab)) {
    ids.push_back(static_cast<int32_t>(
        std::max_element(row, row + static_cast<std::ptrdiff_t>(vocab)) - row));
  }
  return ids;
}

TEST(HostEmbedding, BatchedPrefillAndDecodeMatchDeviceEmbedding) {
  const auto& cases = ReferenceCases();
  ServingLimits o;
  o.max_batch_tokens = 128;
  o.max_seq_len = 64;
  o.kv_slots = static_cast<int32_t>(cases.size());
  auto device = OpenStage(false, o), host = OpenStage(true, o);
  ASSERT_TRUE(device && host);
  const std::vector<int32_t> slots = AcquireSlots(*device->model, cases.size());
  ASSERT_EQ(AcquireSlots(*host->model, cases.size()), slots);
  const int allocations_at_create = host->backend.allocations;

  // Prefill every prompt in one batch, logits of every token.
  BatchLayout prefill;
  std::vector<int32_t> lengths;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto n = static_cast<int32_t>(cases[i].input_ids.size());
    prefill.Add(slots[i], 0, cases[i].input_ids.data(), n);
    lengths.push_back(n);
  }
  std::vector<float> want, got;
  ASSERT_TRUE(device->model->Forward(prefill, LogitsMode::kAllTokens, &want).ok());
  ASSERT_TRUE(host->model->Forward(prefill, LogitsMode::kAllTokens, &got).ok());
  ASSERT_EQ(got, want);

  // Decode steps, one token of every sequence each: its greedy next token.
  const size_t vocab = static_cast<size_t>(device->model->config().vocab_size);
  const std::vector<int32_t> argmax = ArgMaxRows(want, vocab);  // one per prompt token
  std::vector<int32_t> tokens;
  for (const SeqSpan& s : prefill.seqs) {
    tokens.push_back(argmax[static_cast<size_t>(s.token_offset + s.n_tokens - 1)]);
  }
  for (int step = 0; step < 4; ++step) {
    BatchLayout decode;
    for (size_t i = 0; i < cases.size(); ++i) decode.Add(slots[i], lengths[i]++, &tokens[i], 1);
    ASSERT_TRUE(device->model->Forward(decode, LogitsMode::kLastToken, &want).ok());
    ASSERT_TRUE(host->model->Forward(decode, LogitsMode::kLastToken, &got).ok());
    ASSERT_EQ(got, want) << "decode step " << step;
    tokens = ArgMaxRows(want, vocab);
  }

  EXPECT_EQ(host->backend.embeds, 0);  // the backend never read the table
  EXPECT_EQ(device->backend.embeds, 5);
  EXPECT_EQ(host->backend.copies_from_pinned, 5);  // one copy of the gathered rows a step
  EXPECT_EQ(host->backend.allocations, allocations_at_create);  // nothing allocated per step
}

TEST(HostEmbedding, ChunkedPromptsMatchDeviceEmbedding) {
  const ReferenceCase& c = ReferenceCases()[2];  // the longest plain prompt
  const auto n = static_cast<int32_t>(c.input_ids.size());
  for (int32_t chunk : {1, 3, 7, 16}) {
    ServingLimits o;
    o.max_batch_tokens = chunk;
    o.max_seq_len = 64;
    auto device = OpenStage(false, o), host = OpenStage(true, o);
    ASSERT_TRUE(device && host);
    const int32_t slot = *device->model->kv_cache().Acquire();
    ASSERT_EQ(*host->model->kv_cache().Acquire(), slot);
    for (int32_t done = 0; done < n; done += chunk) {
      BatchLayout batch;
      batch.Add(slot, done, c.input_ids.data() + done, std::min(chunk, n - done));
      std::vector<float> want, got;
      ASSERT_TRUE(device->model->Forward(batch, LogitsMode::kAllTokens, &want).ok());
      ASSERT_TRUE(host->model->Forward(batch, LogitsMode::kAllTokens, &got).ok());
      ASSERT_EQ(got, want) << "chunk " << chunk << " at token " << done;
    }
  }
}

TEST(HostEmbedding, FirstStageActivationsMatchDeviceEmbedding) {
  // The first pipeline stage: layers [0, 2), no head, activations out to host memory.
  ServingLimits o;
  o.max_batch_tokens = 16;
  o.max_seq_len = 16;
  auto device = OpenStage(false, o, 2, false), host = OpenStage(true, o, 2, false);
  ASSERT_TRUE(device && host);
  const auto hidden = static_cast<size_t>(device->model->config().hidden_size);
  const int32_t slot = *device->model->kv_cache().Acquire();
  ASSERT_EQ(*host->model->kv_cache().Acquire(), slot);
  std::vector<int32_t> step = {128000, 791, 6864, 315, 9822, 374};
  int32_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    BatchLayout batch;
    const auto n = static_cast<int32_t>(step.size());
    batch.Add(slot, pos, step.data(), n);
    std::vector<float> want(step.size() * hidden), got(step.size() * hidden);
    ASSERT_TRUE(device->model->ForwardStage(batch, {}, want.data(), LogitsMode::kLastToken,
                                            nullptr).ok());
    ASSERT_TRUE(
        host->model->ForwardStage(batch, {}, got.data(), LogitsMode::kLastToken, nullptr).ok());
    ASSERT_EQ(got, want) << "step " << i;
    pos += n;
    step = {static_cast<int32_t>(1000 + 37 * i)};  // decode tokens
  }
}

TEST(HostEmbedding, PinnedBytesIsTheGatherBufferCreateAllocates) {
  ServingLimits o;
  o.max_batch_tokens = 24;
  auto device = OpenStage(false, o), host = OpenStage(true, o);
  ASSERT_TRUE(device && host);
  const ModelConfig& config = host->model->config();
  EXPECT_EQ(ForwardPinnedBytes(config, o, false), 0u);
  EXPECT_EQ(ForwardPinnedBytes(config, o, true),
            24u * static_cast<size_t>(config.hidden_size) * sizeof(float));
  EXPECT_EQ(device->backend.pinned_bytes, 0u);
  EXPECT_EQ(host->backend.pinned_bytes, ForwardPinnedBytes(config, o, true));
}

TEST(HostEmbedding, RefusesAStageWithoutATable) {
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(TinyModelDir());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  StatusOr<LlamaWeights> weights = BindLlamaWeights(*ckpt);
  ASSERT_TRUE(weights.ok()) << weights.status().ToString();
  ResidentLayers feed(weights->layers);
  CpuBackend backend;
  EndWeights ends;
  ends.embed_on_host = true;
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::Create(backend, ckpt->config(), ends, feed, ServingLimits{});
  ASSERT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("embed_on_host"), std::string::npos)
      << model.status().message();

  ends.embed = weights->embed;
  ends.embed.cols /= 2;  // not (vocab, hidden)
  model = LlamaModel::Create(backend, ckpt->config(), ends, feed, ServingLimits{});
  ASSERT_EQ(model.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("hidden"), std::string::npos)
      << model.status().message();
}

}  // namespace
}  // namespace strata::testing
