// RMSNorm: one block per row; a block-wide sum of squares by warp shuffles, then a scaled
// write (and optionally the same values rounded to bf16, for a GEMM that follows). fp32
// math, as the CPU reference.
#include "common/backend/cuda/device_dtype.cuh"
#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

template <typename W>
__global__ void RmsNormKernel(const float* __restrict__ x, const W* __restrict__ weight, int64_t n,
                              float eps, float* out, __nv_bfloat16* out_bf16) {
  const float* row = x + blockIdx.x * n;
  float* dst = out + blockIdx.x * n;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += row[i] * row[i];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  __shared__ float warp_sums[kThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = sum;
  __syncthreads();
  if (warp == 0) {
    sum = lane < kThreads / 32 ? warp_sums[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) warp_sums[0] = sum;
  }
  __syncthreads();
  const float inv_rms = rsqrtf(warp_sums[0] / static_cast<float>(n) + eps);
  __nv_bfloat16* dst_bf16 = out_bf16 == nullptr ? nullptr : out_bf16 + blockIdx.x * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float y = ToFloat(weight[i]) * (row[i] * inv_rms);
    dst[i] = y;
    if (dst_bf16 != nullptr) dst_bf16[i] = __float2bfloat16_rn(y);
  }
}

template <typename W>
void Launch(const float* x, const W* weight, int64_t rows, int64_t n, float eps, float* out,
            __nv_bfloat16* out_bf16, cudaStream_t stream) {
  if (rows == 0) return;
  RmsNormKernel<W><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, n, eps, out,
                                                                         out_bf16);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void LaunchRmsNorm(const float* x, const float* weight, int64_t rows, int64_t n, float eps,
                   float* out, __nv_bfloat16* out_bf16, cudaStream_t stream) {
  Launch(x, weight, rows, n, eps, out, out_bf16, stream);
}

void LaunchRmsNorm(const float* x, const __nv_bfloat16* weight, int64_t rows, int64_t n,
                   float eps, float* out, __nv_bfloat16* out_bf16, cudaStream_t stream) {
  Launch(x, weight, rows, n, eps, out, out_bf16, stream);
}

void LaunchRmsNorm(const float* x, const __half* weight, int64_t rows, int64_t n, float eps,
                   float* out, __nv_bfloat16* out_bf16, cudaStream_t stream) {
  Launch(x, weight, rows, n, eps, out, out_bf16, stream);
}

}  // namespace strata::cuda
