// Host launchers of the decode GEMV: out (rows, n) = x (rows, k) · wᵀ for a few rows of x
// (rows <= kGemvMaxRows), streaming the weight matrix w (n, k) once for all of them.
//  * LaunchGemvMma: bf16 or fp8 e4m3 weights, x already converted to bf16. Tensor-core MMAs
//    (m16n8k16, fp32 accumulation) fed straight from 16-byte global loads; fp8 weights are
//    widened to bf16 exactly in registers and their per-row scales applied at the end.
//    Several weights sharing x (q, k, v) run as one grid. Needs GemvMmaSupports().
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
inline constexpr int64_t kGemvTileRows = 16;   // weight rows per block
inline constexpr size_t kGemvMaxTargets = 3;   // weights in one LaunchGemvMma
// Weight bytes a block streams (split-K unit): small enough that the grid is many blocks
// deep (the last wave is short), large enough that the split partials stay a small
// fraction of the traffic. Chosen with BM_GemvSplitSweep on the H100 (docs/benchmarks.md).
inline constexpr int64_t kGemvSplitBytes = int64_t{64} << 10;

// Split-K scratch for LaunchGemvMma: partial sums of up to `floats` floats; sm_count sizes
// the split so every SM gets work; split_bytes is the block's share of the weights.
struct GemvWorkspace {
  float* partials = nullptr;
  size_t floats = 0;
  int sm_count = 1;
  int64_t split_bytes = kGemvSplitBytes;
};

// One weight of a LaunchGemvMma call: w (n, k) in the call's dtype, w_scales (n) for fp8
// (else nullptr), out (rows, n) fp32.
struct GemvTarget {
  const void* w = nullptr;
  const float* w_scales = nullptr;
  int64_t n = 0;
  float* out = nullptr;
};

// How LaunchGemvMma divides the work: row tiles of all targets x K splits, and how many
// blocks of the kernel one SM holds.
struct GemvPlan {
  int64_t tiles = 0;
  int64_t splits = 1;
  int64_t chunks_per_split = 0;
  int blocks_per_sm = 1;
};

// Whether LaunchGemvMma handles weights of `dtype` at `w` with `k` columns: bf16 or fp8,
// 16-byte aligned, k a multiple of 32 (bf16) or 64 (fp8).
bool GemvMmaSupports(DType dtype, const void* w, int64_t k);

// x (rows, k) bf16; every target's weights in `dtype` (kBF16 or kF8E4M3) with k columns,
// each supported by GemvMmaSupports; every target but the last has n a multiple of
// kGemvTileRows. At most kGemvMaxTargets targets.
// targets: (count) weights sharing x. (This header is also compiled as C++17 by nvcc: no
// std::span.)
GemvPlan PlanGemvMma(DType dtype, int64_t rows, int64_t k, const GemvTarget* targets,
                     size_t count, const GemvWorkspace& workspace);
void LaunchGemvMma(const __nv_bfloat16* x, DType dtype, int64_t rows, int64_t k,
                   const GemvTarget* targets, size_t count, const GemvWorkspace& workspace,
                   cudaStream_t stream);

// x (rows, k) fp32; w (n, k) in `dtype`; w_scales (n) or nullptr; out (rows, n) fp32.
void LaunchGemvSimple(const float* x, const void* w, DType dtype, const float* w_scales,
                      int64_t rows, int64_t n, int64_t k, float* out, cudaStream_t stream);

}  // namespace strata::cuda
