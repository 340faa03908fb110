// Host launchers of the decode GEMV: out (rows, n) = x (rows, k) · wᵀ for a few rows of x
// (rows <= kGemvMaxRows), streaming the weight matrix w (n, k) once for all of them.
//  * LaunchGemvMma: bf16, fp8 e4m3 or int4 (kU4) weights, x already converted to bf16.
//    Tensor-core MMAs (m16n8k16, fp32 accumulation) fed straight from 16-byte global loads;
//    fp8 weights are widened to bf16 exactly in registers and their per-row scales applied at
//    the end; int4 codes are dequantised in registers with their group's scale and zero point
//    (q - z exactly in bf16; times s in fp32 per 128-column chunk when groups are multiples
//    of 128 columns, else rounded to bf16 in the fragment). x must already be in the weight's
//    stored column order (an act-order weight's col_perm applied). Several weights sharing x
//    (q, k, v) run as one grid. Needs GemvMmaSupports().
//  * LaunchGemvSimple: any weight dtype, fp32 x; one warp per output, fp32 FMAs (int4: the
//    exact (q - z) * s, col_perm applied). Correct for every shape, not tuned.
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

// The group quantisation of a kU4 weight (n, k): a bf16 scale and zero point per group of
// group_size consecutive stored columns of a row; the weight is (q - z) * s. Zero points are
// integers in every pack (the writer's and Hugging Face's); LaunchGemvMma rounds a fractional
// one to the nearest integer, LaunchGemvSimple uses it as it is.
struct U4Groups {
  const uint16_t* scales = nullptr;  // (n, k / group_size) bf16
  const uint16_t* zeros = nullptr;   // (n, k / group_size) bf16
  int64_t group_size = 0;
};

// One weight of a LaunchGemvMma call: w (n, k) in the call's dtype, w_scales (n) for fp8
// (else nullptr), groups for kU4 (the same group_size for every target), out (rows, n) fp32.
struct GemvTarget {
  const void* w = nullptr;
  const float* w_scales = nullptr;
  U4Groups groups;
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

// Whether LaunchGemvMma handles weights of `dtype` at `w` with `k` columns: bf16, fp8 or
// int4, 16-byte aligned, k a multiple of 32 (bf16), 64 (fp8) or 128 (int4); int4 also needs
// group_size 32 * 2^j dividing k (a thread's 32 columns share a group).
bool GemvMmaSupports(DType dtype, const void* w, int64_t k, int64_t group_size);

// x (rows, k) bf16; every target's weights in `dtype` (kBF16, kF8E4M3 or kU4) with k columns,
// each supported by GemvMmaSupports; every target but the last has n a multiple of
// kGemvTileRows. At most kGemvMaxTargets targets.
// targets: (count) weights sharing x. (This header is also compiled as C++17 by nvcc: no
// std::span.)
GemvPlan PlanGemvMma(DType dtype, int64_t rows, int64_t k, const GemvTarget* targets,
                     size_t count, const GemvWorkspace& workspace);
void LaunchGemvMma(const __nv_bfloat16* x, DType dtype, int64_t rows, int64_t k,
                   const GemvTarget* targets, size_t count, const GemvWorkspace& workspace,
                   cudaStream_t stream);

// x (rows, k) fp32; w (n, k) in `dtype`; w_scales (n) or nullptr; groups for kU4 (else
// ignored); col_perm (k) for an act-order kU4 weight (stored column j multiplies x column
// col_perm[j]) or nullptr; out (rows, n) fp32.
void LaunchGemvSimple(const float* x, const void* w, DType dtype, const float* w_scales,
                      const U4Groups& groups, const int32_t* col_perm, int64_t rows, int64_t n,
                      int64_t k, float* out, cudaStream_t stream);

}  // namespace strata::cuda
