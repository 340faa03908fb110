// The reference math, as small pure functions over pointers and sizes (fp32 compute).
// The CPU backend composes them; other backends' kernels are checked against them.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/model/dtype.h"

namespace strata::cpu {

// out (n) = x (n) / sqrt(mean(x²) + eps) * weight (n); out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// Rotates one token's heads in place: x (n_heads, head_dim), rotate-half layout.
// cos, sin (head_dim / 2) for this token's position.
void RopeRotate(float* x, int64_t n_heads, int64_t head_dim, const float* cos, const float* sin);

// x (n) = softmax(x) in place; the max is subtracted first.
void SoftmaxInPlace(float* x, int64_t n);

// out (n) = silu(gate) * up; out may alias either input.
void SiluMul(const float* gate, const float* up, int64_t n, float* out);

}  // namespace strata::cpu
