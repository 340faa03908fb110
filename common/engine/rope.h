// Rotary-embedding inverse frequencies for a model, with Llama 3 frequency scaling,
// computed in float32 the way Hugging Face transformers computes them.
// Thread-safety: pure function.
#pragma once

#include <vector>

#include "common/model/config.h"

namespace strata {

// (head_dim / 2) inverse frequencies: theta^(-2i/head_dim), then for rope_type llama3 low
// frequencies divided by `factor` and the band between smoothly interpolated.
std::vector<float> RopeInvFreq(const ModelConfig& config);

}  // namespace strata
