// The memory a Llama forward pass of a config allocates under given serving limits: the KV
// cache, the fp32 activation buffers (their shapes, in the order the engine lays them out in
// one allocation) and the pinned gather buffer of a host embedding. The one formula that the
// engine allocates by (KvCache::Create, LlamaModel's scratch and gather buffer) and the
// planner budgets with; the GPU budget test holds measured device memory to it.
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/model/config.h"
#include "common/serving/serving_limits.h"

namespace strata {

// The activation buffers of a forward pass; T = max_batch_tokens.
enum class Activation {
  kX,        // (T, hidden) residual stream
  kXn,       // (T, hidden) normalised input of a sub-block
  kQ,        // (T, q_dim)
  kK,        // (T, kv_dim)
  kV,        // (T, kv_dim)
  kAttn,     // (T, q_dim) attention output before o_proj
  kGate,     // (T, intermediate)
  kUp,       // (T, intermediate)
  kProj,     // (T, hidden) o_proj / down_proj output
  kLogits,   // (max(kv_slots, kMinLogitsRows), vocab)
  kInvFreq,  // (1, head_dim / 2) RoPE inverse frequencies
};
inline constexpr size_t kActivationCount = 11;

// Logits are computed in chunks of at least this many rows, whatever the batch.
inline constexpr int64_t kMinLogitsRows = 8;

struct ActivationShape {
  int64_t rows = 0;
  int64_t cols = 0;
};

// Indexed by Activation.
std::array<ActivationShape, kActivationCount> ActivationShapes(const ModelConfig& config,
                                                               const ServingLimits& limits);
// Bytes of one fp32 activation buffer, rounded up so the next one starts aligned.
size_t ActivationBytes(ActivationShape shape);
// K and V, fp32, (slots * max_seq_len, kv_dim) each, for `layers` layers.
size_t KvCacheBytes(const ModelConfig& config, int32_t layers, int32_t slots, int32_t max_seq_len);
// Device bytes a model of config.num_layers layers allocates: its KV cache and activations.
size_t ForwardDeviceBytes(const ModelConfig& config, const ServingLimits& limits);
// Pinned host bytes: the host embedding's gather buffer (max_batch_tokens, hidden) fp32 when
// `embed_on_host`, else 0.
size_t ForwardPinnedBytes(const ModelConfig& config, const ServingLimits& limits,
                          bool embed_on_host);

}  // namespace strata
