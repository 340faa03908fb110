// How a request wants its tokens sampled, shared by the engine (which samples) and the
// coordinator (which parses requests) without either depending on the other: a plain struct
// and its validation, on the standard library and Status only. Thread-safety: plain values.
#pragma once

#include <cstdint>

#include "common/util/status.h"

namespace strata {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;
};

// kInvalidArgument naming the field: temperature negative or not finite, top_k negative,
// top_p outside (0, 1].
Status ValidateSamplingParams(const SamplingParams& params);

}  // namespace strata
