// Residual add: x += y, grid-stride over n elements.
#include <algorithm>

#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

__global__ void AddInPlaceKernel(float* x, const float* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    x[i] += y[i];
  }
}

}  // namespace

void LaunchAddInPlace(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65535);
  AddInPlaceKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(x, y, n);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
