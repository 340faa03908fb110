// The forward pass's memory formula (see forward_memory.h).
#include "common/model/forward_memory.h"

#include <algorithm>

namespace strata {
namespace {

// Each activation buffer starts at a multiple of this (the widest vector load of any kernel).
constexpr size_t kActivationAlign = 256;

}  // namespace

std::array<ActivationShape, kActivationCount> ActivationShapes(const ModelConfig& c,
                                                               const ServingLimits& limits) {
  const int64_t t = limits.max_batch_tokens;
  const int64_t logits_rows = std::max<int64_t>(limits.kv_slots, kMinLogitsRows);
  return {{
      {t, c.hidden_size},         // kX
      {t, c.hidden_size},         // kXn
      {t, c.q_dim()},             // kQ
      {t, c.kv_dim()},            // kK
      {t, c.kv_dim()},            // kV
      {t, c.q_dim()},             // kAttn
      {t, c.intermediate_size},   // kGate
      {t, c.intermediate_size},   // kUp
      {t, c.hidden_size},         // kProj
      {logits_rows, c.vocab_size},  // kLogits
      {1, c.head_dim / 2},        // kInvFreq
  }};
}

size_t ActivationBytes(ActivationShape shape) {
  const size_t bytes = static_cast<size_t>(shape.rows * shape.cols) * sizeof(float);
  return (bytes + kActivationAlign - 1) / kActivationAlign * kActivationAlign;
}

size_t KvCacheBytes(const ModelConfig& config, int32_t layers, int32_t slots, int32_t max_seq_len) {
  return static_cast<size_t>(int64_t{slots} * max_seq_len * config.kv_dim()) * sizeof(float) * 2 *
         static_cast<size_t>(layers);
}

size_t ForwardDeviceBytes(const ModelConfig& config, const ServingLimits& limits) {
  size_t total = KvCacheBytes(config, static_cast<int32_t>(config.num_layers), limits.kv_slots,
                              limits.max_seq_len);
  for (const ActivationShape& s : ActivationShapes(config, limits)) total += ActivationBytes(s);
  return total;
}

size_t ForwardPinnedBytes(const ModelConfig& config, const ServingLimits& limits,
                          bool embed_on_host) {
  if (!embed_on_host) return 0;
  return static_cast<size_t>(limits.max_batch_tokens) * static_cast<size_t>(config.hidden_size) *
         sizeof(float);
}

}  // namespace strata
