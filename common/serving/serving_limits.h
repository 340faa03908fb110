// The limits a model is served under — tokens per forward, positions per sequence, sequences
// at once — with their defaults and their validation, in one place: the engine sizes its KV
// cache and activations from them, the planner budgets memory with them, the coordinator and
// the launcher take them as flags and send them to the workers. Thread-safety: plain values.
#pragma once

#include <cstdint>

#include "common/util/status.h"

namespace strata {

struct ServingLimits {
  int32_t max_batch_tokens = 512;  // tokens per forward; longer prompts are chunked
  int32_t max_seq_len = 4096;      // KV-cache positions per sequence (prompt + completion)
  int32_t kv_slots = 8;            // sequences live at once
};

// kInvalidArgument naming the field when any limit is not positive.
Status ValidateServingLimits(const ServingLimits& limits);

}  // namespace strata
