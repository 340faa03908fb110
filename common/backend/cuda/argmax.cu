// Row argmax for greedy sampling on the GPU (see elementwise_ops.h): one block per row, each
// thread keeps the best (value, index) of a strided slice, then a shared-memory tree keeps
// the larger value and, among equals, the lower index — the CPU ArgMax's choice.
#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

constexpr int kArgMaxThreads = 256;

__device__ __forceinline__ bool Better(float a, int32_t ia, float b, int32_t ib) {
  return a > b || (a == b && ia < ib);
}

__global__ void ArgMaxRowsKernel(const float* __restrict__ x, int64_t cols,
                                 int32_t* __restrict__ out) {
  const float* row = x + blockIdx.x * cols;
  float best = -__int_as_float(0x7f800000);  // -inf
  int32_t best_i = INT32_MAX;
  for (int64_t c = threadIdx.x; c < cols; c += kArgMaxThreads) {
    const float v = row[c];
    if (Better(v, static_cast<int32_t>(c), best, best_i)) {
      best = v;
      best_i = static_cast<int32_t>(c);
    }
  }
  __shared__ float values[kArgMaxThreads];
  __shared__ int32_t indices[kArgMaxThreads];
  values[threadIdx.x] = best;
  indices[threadIdx.x] = best_i;
  __syncthreads();
  for (int half = kArgMaxThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      const int other = threadIdx.x + half;
      if (Better(values[other], indices[other], values[threadIdx.x], indices[threadIdx.x])) {
        values[threadIdx.x] = values[other];
        indices[threadIdx.x] = indices[other];
      }
    }
    __syncthreads();
  }
  // A row of -inf (or NaN) only: the first column, as the CPU's max_element gives.
  if (threadIdx.x == 0) out[blockIdx.x] = indices[0] == INT32_MAX ? 0 : indices[0];
}

}  // namespace

void LaunchArgMaxRows(const float* x, int64_t rows, int64_t cols, int32_t* out,
                      cudaStream_t stream) {
  if (rows == 0) return;
  ArgMaxRowsKernel<<<static_cast<unsigned>(rows), kArgMaxThreads, 0, stream>>>(x, cols, out);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
