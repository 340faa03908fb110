// The generic GEMV (see gemv.h): one warp per output row, lanes striding over K in fp32,
// every row of x accumulated from the same weight load, then warp-shuffle sums.
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

}  // namespace

void LaunchGemvSimple(const float* x, const void* w, DType dtype, const float* w_scales,
                      int64_t rows, int64_t n, int64_t k, float* out, cudaStream_t stream) {
  STRATA_CHECK(rows >= 1 && rows <= kGemvMaxRows);
  if (n == 0) return;
  const int64_t blocks = (n + kRowsPerBlock - 1) / kRowsPerBlock;
  STRATA_CHECK(blocks <= 0x7fffffff);
  DispatchDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    GemvSimpleKernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        x, static_cast<const T*>(w), w_scales, static_cast<int>(rows), n, k, out);
  });
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
