// Host launchers of the CUDA elementwise kernels the engine's layer needs besides GEMMs and
// attention: RMSNorm, RoPE (rotate-half, llama3 frequencies precomputed), SwiGLU, residual
// add, and the row argmax of greedy sampling. fp32 activations; norm weights in fp32, bf16 or
// fp16. RMSNorm and SwiGLU can also write their output rounded to bf16 (out_bf16, nullable):
// the input of the GEMM that follows them. Each launcher enqueues on `stream` and returns.
// Their CPU references are common/backend/cpu/cpu_ops.h; tests/unit/cuda checks them.
// Thread-safety: launchers are reentrant; ordering is the stream's.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace strata::cuda {

// out (rows, n) = x / sqrt(mean(x²) + eps) * weight (n); out may alias x; out_bf16 (rows, n)
// = bf16(out) when not null.
void LaunchRmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                   float* out, __nv_bfloat16* out_bf16, cudaStream_t stream);
void LaunchRmsNorm(const float* x, const __nv_bfloat16* weight, int64_t rows, int64_t n,
                   float eps, float* out, __nv_bfloat16* out_bf16, cudaStream_t stream);
void LaunchRmsNorm(const float* x, const __half* weight, int64_t rows, int64_t n, float eps,
                   float* out, __nv_bfloat16* out_bf16, cudaStream_t stream);

// Rotates x (tokens, heads * head_dim) in place; positions (tokens), inv_freq (head_dim / 2).
void LaunchRope(float* x, const int32_t* positions, const float* inv_freq, int64_t tokens,
                int64_t heads, int64_t head_dim, cudaStream_t stream);

// out (n) = silu(gate) * up; out may alias either input; out_bf16 (n) = bf16(out) when not
// null.
void LaunchSiluMul(const float* gate, const float* up, int64_t n, float* out,
                   __nv_bfloat16* out_bf16, cudaStream_t stream);

// x (n) += y (n).
void LaunchAddInPlace(float* x, const float* y, int64_t n, cudaStream_t stream);

// out (rows) = the column of each row of x (rows, cols) holding its largest value, the lowest
// among equals (greedy sampling; the CPU's ArgMax).
void LaunchArgMaxRows(const float* x, int64_t rows, int64_t cols, int32_t* out,
                      cudaStream_t stream);

}  // namespace strata::cuda
