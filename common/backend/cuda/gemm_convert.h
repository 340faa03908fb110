// Host launchers of the small kernels around a GEMM: fp32 activations to the GEMM's input
// type (bf16, fp16, or fp8 e4m3 with a dynamic per-row scale; bf16 gathered into an int4
// weight's stored column order), fp8 and int4 weights widened to bf16 (int4: u4_convert.cu),
// and the epilogue that applies per-row and per-column scales to an fp32 output. Each
// launcher enqueues on `stream`.
// Thread-safety: launchers are reentrant; ordering is the stream's.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "common/backend/cuda/gemv.h"

namespace strata::cuda {

// out (n) = bf16(x), round to nearest even.
void LaunchToBf16(const float* x, int64_t n, __nv_bfloat16* out, cudaStream_t stream);

// out (n) = fp16(x), round to nearest even, saturated to +-65504.
void LaunchToF16(const float* x, int64_t n, __half* out, cudaStream_t stream);

// For each row r of x (rows, k): scales[r] = max|x[r]| / 448 (1 for an all-zero row) and
// q[r] = e4m3(x[r] / scales[r]), saturating; q (rows, k), scales (rows).
void LaunchQuantizeRowsE4M3(const float* x, int64_t rows, int64_t k, __nv_fp8_e4m3* q,
                            float* scales, cudaStream_t stream);

// out (n) = bf16(w), exactly (every e4m3 value is a bf16 value).
void LaunchE4M3ToBf16(const __nv_fp8_e4m3* w, int64_t n, __nv_bfloat16* out, cudaStream_t stream);

// out (rows, k) = bf16 of the real weights of `rows` rows of a kU4 weight, in input column
// order: out[r][col_perm[j]] (out[r][j] without col_perm) = bf16((q[r][j] - z) * s), rounded
// once. codes (rows, k / 2) bytes; groups' arrays start at the same first row.
void LaunchU4ToBf16(const uint8_t* codes, const U4Groups& groups, const int32_t* col_perm,
                    int64_t rows, int64_t k, __nv_bfloat16* out, cudaStream_t stream);

// out (rows, k) = bf16(x[r][col_perm[j]]): x (rows, k) in an act-order weight's stored column
// order, as the GEMV takes it.
void LaunchGatherToBf16(const float* x, int64_t rows, int64_t k, const int32_t* col_perm,
                        __nv_bfloat16* out, cudaStream_t stream);

// out (rows, n) *= row_scales[r] * col_scales[c]; row_scales may be nullptr (all 1).
void LaunchScaleRowsCols(float* out, int64_t rows, int64_t n, const float* row_scales,
                         const float* col_scales, cudaStream_t stream);

}  // namespace strata::cuda
