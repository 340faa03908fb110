// The generic GEMV (see gemv.h): one warp per output row, lanes striding over K in fp32,
// every row of x accumulated from the same weight load, then warp-shuffle sums. int4 weights:
// lanes stride over bytes (two columns), each dequantised exactly as (q - z) * s in fp32.
#include <algorithm>

#include "common/backend/cuda/device_dtype.cuh"
#include "common/backend/cuda/gemv.h"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;
constexpr int kMaxRows = static_cast<int>(kGemvMaxRows);

template <typename T>
__global__ void __launch_bounds__(kThreads)
    GemvSimpleKernel(const float* __restrict__ x, const T* __restrict__ w,
                     const float* __restrict__ w_scales, int rows, int64_t n, int64_t k,
                     float* __restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.x / 32;
  if (row >= n) return;
  const T* wr = w + row * k;
  float acc[kMaxRows] = {};
  for (int64_t i = lane; i < k; i += 32) {
    const float wv = ToFloat(wr[i]);
#pragma unroll
    for (int r = 0; r < kMaxRows; ++r) {
      if (r < rows) acc[r] += wv * x[r * k + i];
    }
  }
  const float scale = w_scales != nullptr ? w_scales[row] : 1.0f;
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    if (r >= rows) break;
    float v = acc[r];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (lane == 0) out[r * n + row] = v * scale;
  }
}

// w (n, k / 2) bytes of int4 codes; groups' scales and zeros (n, k / group_size) bf16;
// col_perm (k) or nullptr.
__global__ void __launch_bounds__(kThreads)
    GemvSimpleU4Kernel(const float* __restrict__ x, const uint8_t* __restrict__ w,
                       const uint16_t* __restrict__ scales, const uint16_t* __restrict__ zeros,
                       int64_t group_size, const int32_t* __restrict__ col_perm, int rows,
                       int64_t n, int64_t k, float* __restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int64_t row = int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.x / 32;
  if (row >= n) return;
  const uint8_t* wr = w + row * (k / 2);
  const int64_t groups = k / group_size;
  float acc[kMaxRows] = {};
  for (int64_t i = lane; i < k / 2; i += 32) {
    const uint8_t byte = wr[i];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t j = 2 * i + half;
      const int64_t g = row * groups + j / group_size;
      const float code = static_cast<float>(half == 0 ? byte & 0xf : byte >> 4);
      const float wv = (code - ToFloat(__ushort_as_bfloat16(zeros[g]))) *
                       ToFloat(__ushort_as_bfloat16(scales[g]));
      const int64_t col = col_perm != nullptr ? col_perm[j] : j;
#pragma unroll
      for (int r = 0; r < kMaxRows; ++r) {
        if (r < rows) acc[r] += wv * x[r * k + col];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kMaxRows; ++r) {
    if (r >= rows) break;
    float v = acc[r];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (lane == 0) out[r * n + row] = v;
  }
}

}  // namespace

void LaunchGemvSimple(const float* x, const void* w, DType dtype, const float* w_scales,
                      const U4Groups& groups, const int32_t* col_perm, int64_t rows, int64_t n,
                      int64_t k, float* out, cudaStream_t stream) {
  STRATA_CHECK(rows >= 1 && rows <= kGemvMaxRows);
  if (n == 0) return;
  const int64_t blocks = (n + kRowsPerBlock - 1) / kRowsPerBlock;
  STRATA_CHECK(blocks <= 0x7fffffff);
  if (dtype == DType::kU4) {
    STRATA_CHECK(groups.scales != nullptr && groups.zeros != nullptr && groups.group_size > 0 &&
                 groups.group_size % 2 == 0 && k % groups.group_size == 0);
    GemvSimpleU4Kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        x, static_cast<const uint8_t*>(w), groups.scales, groups.zeros, groups.group_size,
        col_perm, static_cast<int>(rows), n, k, out);
    STRATA_CUDA_CHECK(cudaGetLastError());
    return;
  }
  DispatchDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    GemvSimpleKernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        x, static_cast<const T*>(w), w_scales, static_cast<int>(rows), n, k, out);
  });
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
