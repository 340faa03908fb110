// The read-only bandwidth kernel (see read_ceiling.h).
#include "tests/bench/read_ceiling.h"

#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::bench {
namespace {

constexpr int kThreads = 512;
constexpr int kLoads = 8;  // independent 16-byte loads per thread in flight

__global__ void __launch_bounds__(kThreads)
    ReadAllKernel(const uint4* __restrict__ data, int64_t n, uint32_t* __restrict__ sink) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  uint32_t fold = 0;
  int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x;
  for (; i + (kLoads - 1) * stride < n; i += kLoads * stride) {
    uint4 v[kLoads];
#pragma unroll
    for (int u = 0; u < kLoads; ++u) {
      const uint4* p = data + i + u * stride;
      asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                   : "=r"(v[u].x), "=r"(v[u].y), "=r"(v[u].z), "=r"(v[u].w)
                   : "l"(p));
    }
#pragma unroll
    for (int u = 0; u < kLoads; ++u) fold ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  for (; i < n; i += stride) {
    const uint4 v = data[i];
    fold ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  for (int offset = 16; offset > 0; offset /= 2) fold ^= __shfl_xor_sync(0xffffffffu, fold, offset);
  if (threadIdx.x % 32 == 0) atomicXor(sink + blockIdx.x, fold);
}

}  // namespace

void LaunchReadAll(const void* data, size_t bytes, int blocks, uint32_t* sink,
                   cudaStream_t stream) {
  STRATA_CHECK(bytes % 16 == 0 && reinterpret_cast<uintptr_t>(data) % 16 == 0 && blocks > 0);
  ReadAllKernel<<<blocks, kThreads, 0, stream>>>(static_cast<const uint4*>(data),
                                                 static_cast<int64_t>(bytes / 16), sink);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::bench
