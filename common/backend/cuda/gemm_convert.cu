// The GEMM input conversions and scale epilogue (see gemm_convert.h). Elementwise kernels are
// grid-stride; the fp8 quantizer is one block per row: a block max-abs reduction, then the
// scaled, saturating cast — no host round trip.
#include <algorithm>

#include "common/backend/cuda/gemm_convert.h"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr float kE4M3Max = 448.0f;
constexpr float kF16Max = 65504.0f;

unsigned GridFor(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}

__global__ void ToBf16Kernel(const float* __restrict__ x, int64_t n,
                             __nv_bfloat16* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2bfloat16_rn(x[i]);
  }
}

__global__ void ToF16Kernel(const float* __restrict__ x, int64_t n, __half* __restrict__ out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2half_rn(fminf(fmaxf(x[i], -kF16Max), kF16Max));
  }
}

// Block-wide max of `v` over kThreads threads; every thread gets the result.
__device__ float BlockMax(float v) {
  __shared__ float warp_max[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  v = lane < kThreads / 32 ? warp_max[lane] : 0.0f;
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

__global__ void __launch_bounds__(kThreads)
    QuantizeRowsE4M3Kernel(const float* __restrict__ x, int64_t k, __nv_fp8_e4m3* __restrict__ q,
                           float* __restrict__ scales) {
  const float* row = x + blockIdx.x * k;
  __nv_fp8_e4m3* dst = q + blockIdx.x * k;
  float amax = 0.0f;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) amax = fmaxf(amax, fabsf(row[i]));
  amax = BlockMax(amax);
  const float scale = amax > 0.0f ? amax / kE4M3Max : 1.0f;
  const float inv = 1.0f / scale;
  if (threadIdx.x == 0) scales[blockIdx.x] = scale;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) {
    dst[i].__x = __nv_cvt_float_to_fp8(row[i] * inv, __NV_SATFINITE, __NV_E4M3);
  }
}

// Grid: (column blocks, rows).
// The first `vectors` * 16 bytes in 16-byte pieces (w and out 16-byte aligned), the rest
// one by one.
__global__ void E4M3ToBf16Kernel(const __nv_fp8_e4m3* __restrict__ w, int64_t n, int64_t vectors,
                                 __nv_bfloat16* __restrict__ out) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  for (int64_t v = first; v < vectors; v += stride) {
    const uint4 in = reinterpret_cast<const uint4*>(w)[v];
    const auto* bytes = reinterpret_cast<const __nv_fp8_e4m3*>(&in);
    uint4 lo, hi;
    auto* dst_lo = reinterpret_cast<__nv_bfloat16*>(&lo);
    auto* dst_hi = reinterpret_cast<__nv_bfloat16*>(&hi);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      dst_lo[i] = __float2bfloat16_rn(static_cast<float>(bytes[i]));  // exact: e4m3 fits bf16
      dst_hi[i] = __float2bfloat16_rn(static_cast<float>(bytes[8 + i]));
    }
    reinterpret_cast<uint4*>(out)[2 * v] = lo;
    reinterpret_cast<uint4*>(out)[2 * v + 1] = hi;
  }
  for (int64_t i = vectors * 16 + first; i < n; i += stride) {
    out[i] = __float2bfloat16_rn(static_cast<float>(w[i]));
  }
}

__global__ void ScaleRowsColsKernel(float* out, int64_t n, const float* __restrict__ row_scales,
                                    const float* __restrict__ col_scales) {
  const float row_scale = row_scales != nullptr ? row_scales[blockIdx.y] : 1.0f;
  float* row = out + blockIdx.y * n;
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < n;
       c += int64_t{gridDim.x} * blockDim.x) {
    row[c] *= row_scale * col_scales[c];
  }
}

}  // namespace

void LaunchToBf16(const float* x, int64_t n, __nv_bfloat16* out, cudaStream_t stream) {
  if (n == 0) return;
  ToBf16Kernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, out);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchToF16(const float* x, int64_t n, __half* out, cudaStream_t stream) {
  if (n == 0) return;
  ToF16Kernel<<<GridFor(n), kThreads, 0, stream>>>(x, n, out);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchE4M3ToBf16(const __nv_fp8_e4m3* w, int64_t n, __nv_bfloat16* out,
                      cudaStream_t stream) {
  if (n == 0) return;
  const bool aligned = reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(out) % 16 == 0;
  const int64_t vectors = aligned ? n / 16 : 0;
  const int64_t threads = std::max<int64_t>(vectors, n - vectors * 16);
  E4M3ToBf16Kernel<<<std::min(GridFor(threads), 4096u), kThreads, 0, stream>>>(w, n, vectors,
                                                                                out);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchQuantizeRowsE4M3(const float* x, int64_t rows, int64_t k, __nv_fp8_e4m3* q,
                            float* scales, cudaStream_t stream) {
  if (rows == 0) return;
  QuantizeRowsE4M3Kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, k, q, scales);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchScaleRowsCols(float* out, int64_t rows, int64_t n, const float* row_scales,
                         const float* col_scales, cudaStream_t stream) {
  if (rows * n == 0) return;
  STRATA_CHECK(rows <= 65535);
  const dim3 grid(std::min(GridFor(n), 1024u), static_cast<unsigned>(rows));
  ScaleRowsColsKernel<<<grid, kThreads, 0, stream>>>(out, n, row_scales, col_scales);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
