// The limits a model is served under — tokens per forward, positions per sequence, sequences
// at once — with their defaults and their ranges, in one place: the engine sizes its KV cache
// and activations from them, the planner budgets memory with them, the coordinator and the
// launcher take them as flags (--max-batch-tokens, --max-seq-len, --kv-slots) and send them
// to the workers. Thread-safety: plain values.
#pragma once

#include <cstdint>

#include "common/util/status.h"

namespace strata {

struct ServingLimits {
  int32_t max_batch_tokens = 512;  // tokens per forward; longer prompts are chunked
  int32_t max_seq_len = 4096;      // KV-cache positions per sequence (prompt + completion)
  int32_t kv_slots = 8;            // sequences live at once
};

inline constexpr int32_t kMaxBatchTokensLimit = 1 << 20;
inline constexpr int32_t kMaxKvSlots = 4096;

// kInvalidArgument naming the flag and its range: max_batch_tokens outside
// [1, kMaxBatchTokensLimit], max_seq_len outside [1, max_positions] (the model's
// max_position_embeddings), kv_slots outside [1, kMaxKvSlots].
Status ValidateServingLimits(const ServingLimits& limits, int64_t max_positions);

}  // namespace strata
