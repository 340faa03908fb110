// Probe kernels (see probe_kernels.h).
#include "common/backend/cuda/device_dtype.cuh"
#include "common/backend/cuda/probe_kernels.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ unsigned Fold(uint4 v) { return v.x ^ v.y ^ v.z ^ v.w; }

// Grid-stride over 16-byte words, four independent loads in flight per thread.
__global__ void ReadAllKernel(const uint4* __restrict__ data, size_t words, unsigned* sink) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  unsigned acc = 0;
  for (; i + 3 * stride < words; i += 4 * stride) {
    const uint4 a = __ldg(data + i), b = __ldg(data + i + stride);
    const uint4 c = __ldg(data + i + 2 * stride), d = __ldg(data + i + 3 * stride);
    acc ^= Fold(a) ^ Fold(b) ^ Fold(c) ^ Fold(d);
  }
  for (; i < words; i += stride) acc ^= Fold(__ldg(data + i));
  if (acc == 0x9E3779B9u) *sink = acc;
}

__device__ __forceinline__ float PatternValue(size_t i, uint32_t seed) {
  uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ static_cast<uint32_t>(i >> 32) ^ seed;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  return static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

template <typename T>
__global__ void FillKernel(T* data, size_t n, uint32_t seed) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    data[i] = static_cast<T>(PatternValue(i, seed));
  }
}

}  // namespace

void LaunchReadAll(const void* data, size_t bytes, unsigned* sink, int blocks, cudaStream_t stream) {
  ReadAllKernel<<<blocks, kThreads, 0, stream>>>(static_cast<const uint4*>(data), bytes / 16, sink);
}

void LaunchFillPattern(void* data, DType dtype, size_t n, uint32_t seed, cudaStream_t stream) {
  DispatchDType(dtype, [&](auto zero) {
    using T = decltype(zero);
    FillKernel<T><<<1024, 256, 0, stream>>>(static_cast<T*>(data), n, seed);
  });
}

}  // namespace strata::cuda
