// Host launchers of the decode GEMV: out (rows, n) = x (rows, k) · wᵀ for a few rows of x
// (rows <= kGemvMaxRows), streaming the weight matrix w (n, k) once for all of them.
//  * LaunchGemvMma: bf16 or fp8 e4m3 weights, x already converted to bf16. Tensor-core MMAs
//    (m16n8k16, fp32 accumulation) fed straight from 16-byte global loads; fp8 weights are
//    widened to bf16 exactly in registers and their per-row scales applied at the end.
//    Needs GemvMmaSupports().
//  * LaunchGemvSimple: any weight dtype, fp32 x; one warp per output, fp32 FMAs. Correct for
//    every shape, not tuned.
// Each launcher enqueues on `stream`. Thread-safety: reentrant; ordering is the stream's.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/model/dtype.h"

namespace strata::cuda {

inline constexpr int64_t kGemvMaxRows = 16;

// Split-K scratch for LaunchGemvMma: partial sums of up to `floats` floats; sm_count sizes
// the split so every SM gets work.
struct GemvWorkspace {
  float* partials = nullptr;
  size_t floats = 0;
  int sm_count = 1;
};

// Whether LaunchGemvMma handles weights of `dtype` at `w` with `k` columns: bf16 or fp8,
// 16-byte aligned, k a multiple of 32 (bf16) or 64 (fp8).
bool GemvMmaSupports(DType dtype, const void* w, int64_t k);

// x (rows, k) bf16; w (n, k) in `dtype` (kBF16 or kF8E4M3); w_scales (n) for fp8, else
// nullptr; out (rows, n) fp32.
void LaunchGemvMma(const __nv_bfloat16* x, const void* w, DType dtype, const float* w_scales,
                   int64_t rows, int64_t n, int64_t k, float* out, const GemvWorkspace& workspace,
                   cudaStream_t stream);

// x (rows, k) fp32; w (n, k) in `dtype`; w_scales (n) or nullptr; out (rows, n) fp32.
void LaunchGemvSimple(const float* x, const void* w, DType dtype, const float* w_scales,
                      int64_t rows, int64_t n, int64_t k, float* out, cudaStream_t stream);

}  // namespace strata::cuda
