// LlamaModel (see llama_model.h): validation, scratch layout, the host embedding's gather and
// the per-layer op sequence.
#include "common/engine/llama_model.h"

#include <algorithm>
#include <array>
#include <string>

#include "common/engine/rope.h"
#include "common/model/dtype.h"

namespace strata {
namespace {

std::string SeqContext(size_t i, const SeqSpan& s) {
  return "batch sequence " + std::to_string(i) + " (KV slot " + std::to_string(s.kv_slot) + ")";
}

Status CheckHostEmbedding(const WeightView& embed, const ModelConfig& config) {
  if (embed.data == nullptr) {
    return InvalidArgument("embed_on_host is set but there is no embedding table (embed.data is "
                           "null): give the table's host memory, or clear embed_on_host on a "
                           "stage that does not embed");
  }
  if (embed.rows != config.vocab_size || embed.cols != config.hidden_size) {
    return InvalidArgument("the host embedding table is (" + std::to_string(embed.rows) + ", " +
                           std::to_string(embed.cols) + ") but the model needs (vocab " +
                           std::to_string(config.vocab_size) + ", hidden " +
                           std::to_string(config.hidden_size) + ")");
  }
  return OkStatus();
}

// dst (ids, table.cols) fp32 = the rows `ids` of `table` in host memory, each times its scale
// when the table has them: the values Backend::Embed computes, bit for bit.
void GatherRows(const WeightView& table, std::span<const int32_t> ids, float* dst) {
  const size_t cols = static_cast<size_t>(table.cols);
  const size_t row_bytes = cols * DTypeSize(table.dtype);
  for (const int32_t id : ids) {
    ConvertToFloat(table.data + static_cast<size_t>(id) * row_bytes, table.dtype, dst, cols);
    if (table.scales != nullptr) {  // fp8: the row's scale
      for (size_t c = 0; c < cols; ++c) dst[c] *= table.scales[id];
    }
    dst += cols;
  }
}

}  // namespace

StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Create(Backend& backend,
                                                         const ModelConfig& config,
                                                         const EndWeights& ends, LayerFeed& feed,
                                                         const ServingLimits& options) {
  STRATA_RETURN_IF_ERROR(ValidateServingLimits(options, config.max_position_embeddings));
  STRATA_ASSIGN_OR_RETURN(KvCache kv, KvCache::Create(backend, config,
                                                      static_cast<int32_t>(config.num_layers),
                                                      options.kv_slots, options.max_seq_len));
  if (ends.embed_on_host) STRATA_RETURN_IF_ERROR(CheckHostEmbedding(ends.embed, config));
  std::unique_ptr<LlamaModel> model(
      new LlamaModel(backend, config, ends, feed, options, std::move(kv)));
  STRATA_RETURN_IF_ERROR(model->AllocateScratch());
  if (ends.embed_on_host) STRATA_RETURN_IF_ERROR(model->AllocateEmbedGather());
  return model;
}

StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::CreateResident(Backend& backend,
                                                                 const ModelConfig& config,
                                                                 LlamaWeights weights,
                                                                 const ServingLimits& options) {
  if (static_cast<int64_t>(weights.layers.size()) != config.num_layers) {
    return InvalidArgument("weights hold " + std::to_string(weights.layers.size()) +
                           " layers but the config has " + std::to_string(config.num_layers));
  }
  auto feed = std::make_unique<ResidentLayers>(std::move(weights.layers));
  const EndWeights ends{weights.embed, weights.final_norm, weights.lm_head};
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                          Create(backend, config, ends, *feed, options));
  model->owned_feed_ = std::move(feed);
  return model;
}

LlamaModel::LlamaModel(Backend& backend, const ModelConfig& config, const EndWeights& ends,
                       LayerFeed& feed, const ServingLimits& options, KvCache kv)
    : backend_(backend),
      config_(config),
      ends_(ends),
      feed_(feed),
      options_(options),
      kv_(std::move(kv)) {}

LlamaModel::~LlamaModel() {
  if (embed_gather_copied_ != nullptr) backend_.WaitEvent(*embed_gather_copied_);
}

Status LlamaModel::AllocateScratch() {
  // Scratch's tensors in Activation order.
  constexpr std::array<Tensor Scratch::*, kActivationCount> kTensors = {
      &Scratch::x,    &Scratch::xn,   &Scratch::q,    &Scratch::k,      &Scratch::v,
      &Scratch::attn, &Scratch::gate, &Scratch::up,   &Scratch::proj,   &Scratch::logits,
      &Scratch::inv_freq};
  const std::array<ActivationShape, kActivationCount> shapes = ActivationShapes(config_, options_);
  size_t total = 0;
  for (const ActivationShape& shape : shapes) total += ActivationBytes(shape);
  STRATA_ASSIGN_OR_RETURN(s_.storage, backend_.Allocate(total));
  std::byte* cursor = s_.storage.get();
  for (size_t i = 0; i < kActivationCount; ++i) {
    s_.*kTensors[i] = Tensor{cursor, DType::kF32, shapes[i].rows, shapes[i].cols};
    cursor += ActivationBytes(shapes[i]);
  }
  const std::vector<float> inv_freq = RopeInvFreq(config_);
  backend_.CopyToDevice(s_.inv_freq.data, inv_freq.data(), inv_freq.size() * sizeof(float));
  return OkStatus();
}

Status LlamaModel::AllocateEmbedGather() {
  STRATA_ASSIGN_OR_RETURN(embed_gather_,
                          backend_.AllocatePinned(ForwardPinnedBytes(config_, options_, true)));
  embed_gather_copied_ = backend_.CreateEvent();
  return OkStatus();
}

Status LlamaModel::Validate(const BatchLayout& batch) const {
  if (batch.n_tokens() == 0) return InvalidArgument("empty batch: no tokens to run");
  if (batch.n_tokens() > options_.max_batch_tokens) {
    return InvalidArgument("batch of " + std::to_string(batch.n_tokens()) +
                           " tokens exceeds max_batch_tokens " +
                           std::to_string(options_.max_batch_tokens) + "; split it into chunks");
  }
  for (int32_t id : batch.tokens) {
    if (id < 0 || id >= config_.vocab_size) {
      return InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                             std::to_string(config_.vocab_size) + ")");
    }
  }
  if (batch.has_tree() && batch.tree_masks.size() !=
                             static_cast<size_t>(batch.n_tokens()) * kTreeMaskWords) {
    return InvalidArgument("the batch's tree masks cover " +
                           std::to_string(batch.tree_masks.size() / kTreeMaskWords) + " of " +
                           std::to_string(batch.n_tokens()) + " tokens");
  }
  int32_t expected_offset = 0;
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const SeqSpan& s = batch.seqs[i];
    if (s.kv_slot < 0 || s.kv_slot >= kv_.slots() || !kv_.in_use(s.kv_slot)) {
      return InvalidArgument(SeqContext(i, s) + " is not an acquired KV slot");
    }
    if (s.token_offset != expected_offset || s.n_tokens <= 0) {
      return InvalidArgument(SeqContext(i, s) + " has a malformed token range");
    }
    if (s.start_pos != kv_.length(s.kv_slot)) {
      return InvalidArgument(SeqContext(i, s) + " starts at position " +
                             std::to_string(s.start_pos) + " but its cache holds " +
                             std::to_string(kv_.length(s.kv_slot)));
    }
    if (s.start_pos + s.n_tokens > kv_.max_seq_len()) {
      return InvalidArgument(SeqContext(i, s) + " would reach " +
                             std::to_string(s.start_pos + s.n_tokens) +
                             " positions, over the context limit of " +
                             std::to_string(kv_.max_seq_len()));
    }
    if (s.tree_base >= 0) STRATA_RETURN_IF_ERROR(ValidateTree(batch, i));
    for (size_t j = i + 1; j < batch.seqs.size(); ++j) {
      if (batch.seqs[j].kv_slot == s.kv_slot) {
        return InvalidArgument(SeqContext(i, s) + " appears twice in one batch");
      }
    }
    expected_offset += s.n_tokens;
  }
  if (expected_offset != batch.n_tokens()) {
    return InvalidArgument("batch sequences cover " + std::to_string(expected_offset) + " of " +
                           std::to_string(batch.n_tokens()) + " tokens");
  }
  return OkStatus();
}

Status LlamaModel::ValidateTree(const BatchLayout& batch, size_t i) const {
  const SeqSpan& s = batch.seqs[i];
  if (!backend_.caps().tree_attention) {
    return Unimplemented("the " + backend_.caps().name + " backend has no tree attention, which "
                         "speculative decoding needs: run without a draft model there");
  }
  const int32_t end = s.start_pos + s.n_tokens;
  if (!batch.has_tree() || s.tree_base > end || end - s.tree_base > kMaxTreeRows) {
    return InvalidArgument(SeqContext(i, s) + ": a token tree from row " +
                           std::to_string(s.tree_base) + " to " + std::to_string(end) +
                           " (at most " + std::to_string(kMaxTreeRows) +
                           " rows, with a mask per token)");
  }
  for (int32_t j = std::max(0, s.tree_base - s.start_pos); j < s.n_tokens; ++j) {
    const int32_t t = s.token_offset + j;
    const int32_t own = s.start_pos + j - s.tree_base;  // the token's bit
    const uint64_t* mask = batch.tree_masks.data() + static_cast<size_t>(t) * kTreeMaskWords;
    const bool self = ((mask[own / 64] >> (own % 64)) & 1u) != 0;
    bool later = false;  // a bit past its own: a row not yet written when it runs
    for (int32_t b = own + 1; b < kMaxTreeRows && !later; ++b) {
      later = ((mask[b / 64] >> (b % 64)) & 1u) != 0;
    }
    const int32_t pos = batch.positions[static_cast<size_t>(t)];
    if (!self || later || pos < s.tree_base || pos > s.start_pos + j) {
      return InvalidArgument(SeqContext(i, s) + ": tree token " + std::to_string(j) +
                             " must see its own row and none after it, at a position in [" +
                             std::to_string(s.tree_base) + ", " +
                             std::to_string(s.start_pos + j) + "] (got " +
                             std::to_string(pos) + ")");
    }
  }
  return OkStatus();
}

Status LlamaModel::Forward(const BatchLayout& batch, LogitsMode mode, std::vector<float>* logits) {
  return ForwardStage(batch, {}, nullptr, mode, logits);
}

Status LlamaModel::ForwardStage(const BatchLayout& batch, std::span<const float> hidden_in,
                                float* hidden_out, LogitsMode mode, std::vector<float>* logits,
                                ActivationMemory memory, std::vector<int32_t>* greedy) {
  STRATA_RETURN_IF_ERROR(Validate(batch));
  const int32_t t = batch.n_tokens();
  if (hidden_in.empty() && ends_.embed.data == nullptr) {
    return InvalidArgument("this pipeline stage has no embedding: it needs the previous "
                           "stage's activations");
  }
  if (!hidden_in.empty() && hidden_in.size() != static_cast<size_t>(t * config_.hidden_size)) {
    return InvalidArgument("activations of " + std::to_string(hidden_in.size()) +
                           " floats for a batch of " + std::to_string(t) + " tokens of hidden size " +
                           std::to_string(config_.hidden_size));
  }
  if (hidden_out == nullptr && ends_.lm_head.data == nullptr) {
    return InvalidArgument("this pipeline stage has no LM head: it can only pass activations on");
  }
  if (hidden_out == nullptr && logits == nullptr && greedy == nullptr) {
    return InvalidArgument("ForwardStage was asked for no output: give hidden_out, logits or greedy");
  }
  backend_.BeginBatch(batch);
  Tensor x = s_.x.Rows(0, t);
  STRATA_RETURN_IF_ERROR(feed_.BeginPass());  // prefetching starts before the embedding
  if (hidden_in.empty() && ends_.embed_on_host) {
    EmbedFromHost(batch, x);
  } else if (hidden_in.empty()) {
    backend_.Embed(ends_.embed, x);
  } else if (memory == ActivationMemory::kDevice) {
    backend_.CopyToDeviceAsync(x.data, hidden_in.data(), x.nbytes(), Stream::kCompute);
  } else {
    backend_.CopyToDevice(x.data, hidden_in.data(), x.nbytes());
  }
  if (observer_) observer_(-1, x);
  STRATA_RETURN_IF_ERROR(RunLayers(t));
  if (hidden_out != nullptr && memory == ActivationMemory::kDevice) {
    backend_.CopyToDeviceAsync(hidden_out, x.data, x.nbytes(), Stream::kCompute);
  } else if (hidden_out != nullptr) {
    backend_.CopyToHost(hidden_out, x.data, x.nbytes());
    backend_.Synchronize();
  } else if (mode == LogitsMode::kLastToken) {
    Tensor last = s_.xn.Rows(0, static_cast<int64_t>(batch.seqs.size()));
    backend_.GatherLastTokens(x, last);
    ComputeLogits(last, logits, greedy);
  } else {
    ComputeLogits(x, logits, greedy);
  }
  for (const SeqSpan& s : batch.seqs) kv_.Advance(s.kv_slot, s.n_tokens);
  return OkStatus();
}

void LlamaModel::EmbedFromHost(const BatchLayout& batch, Tensor x) {
  float* gather = reinterpret_cast<float*>(embed_gather_.get());
  backend_.WaitEvent(*embed_gather_copied_);  // the previous step's copy has read the buffer
  GatherRows(ends_.embed, batch.tokens, gather);
  backend_.CopyToDeviceAsync(x.data, gather, x.nbytes(), Stream::kCompute);
  backend_.RecordEvent(*embed_gather_copied_, Stream::kCompute);
}

Status LlamaModel::RunLayers(int32_t n_tokens) {
  for (int32_t layer = 0; layer < config_.num_layers; ++layer) {
    StatusOr<const LlamaLayerWeights*> w = feed_.Acquire(layer);
    if (!w.ok()) {
      feed_.EndPass();
      return w.status().WithContext("layer " + std::to_string(layer));
    }
    RunLayer(**w, layer, n_tokens);
    feed_.Release(layer);
    if (observer_) observer_(layer, s_.x.Rows(0, n_tokens));
  }
  feed_.EndPass();
  return OkStatus();
}

void LlamaModel::RunLayer(const LlamaLayerWeights& w, int32_t layer, int32_t n_tokens) {
  const KvLayer& cache = kv_.layer(layer);
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const AttentionShape shape{config_.num_heads, config_.num_kv_heads, config_.head_dim};
  Tensor x = s_.x.Rows(0, n_tokens), xn = s_.xn.Rows(0, n_tokens);
  Tensor q = s_.q.Rows(0, n_tokens), k = s_.k.Rows(0, n_tokens), v = s_.v.Rows(0, n_tokens);
  Tensor attn = s_.attn.Rows(0, n_tokens), proj = s_.proj.Rows(0, n_tokens);
  Tensor gate = s_.gate.Rows(0, n_tokens), up = s_.up.Rows(0, n_tokens);

  // Attention block: x += o_proj(attention(rope(q), rope(k), v)) over norm(x).
  backend_.RmsNorm(x, w.attn_norm, eps, xn);
  const MatMulTarget qkv[] = {{&w.wq, q}, {&w.wk, k}, {&w.wv, v}};
  backend_.MatMulShared(xn, qkv);
  backend_.Rope(q, config_.head_dim, s_.inv_freq);
  backend_.Rope(k, config_.head_dim, s_.inv_freq);
  backend_.StoreKv(k, v, cache);
  backend_.Attention(q, cache, shape, attn);
  backend_.MatMul(attn, w.wo, proj);
  backend_.AddInPlace(x, proj);

  // MLP block: x += down(silu(gate(norm(x))) * up(norm(x))).
  backend_.RmsNorm(x, w.mlp_norm, eps, xn);
  const MatMulTarget gate_up[] = {{&w.w_gate, gate}, {&w.w_up, up}};
  backend_.MatMulShared(xn, gate_up);
  backend_.SwiGlu(gate, up, gate);
  backend_.MatMul(gate, w.w_down, proj);
  backend_.AddInPlace(x, proj);
}

void LlamaModel::ComputeLogits(Tensor hidden, std::vector<float>* logits,
                               std::vector<int32_t>* greedy) {
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const int64_t vocab = config_.vocab_size;
  if (logits != nullptr) logits->resize(static_cast<size_t>(hidden.rows * vocab));
  if (greedy != nullptr) greedy->resize(static_cast<size_t>(hidden.rows));
  for (int64_t r0 = 0; r0 < hidden.rows; r0 += s_.logits.rows) {
    const int64_t rows = std::min(s_.logits.rows, hidden.rows - r0);
    Tensor h = hidden.Rows(r0, rows);
    backend_.RmsNorm(h, ends_.final_norm, eps, h);
    Tensor out = s_.logits.Rows(0, rows);
    backend_.MatMul(h, ends_.lm_head, out);
    if (greedy != nullptr) {
      backend_.ArgMaxRows(out, std::span<int32_t>(greedy->data() + r0, static_cast<size_t>(rows)));
    }
    if (logits != nullptr) backend_.CopyToHost(logits->data() + r0 * vocab, out.data, out.nbytes());
  }
  backend_.Synchronize();
}

}  // namespace strata
