// RoPE, rotate-half layout: one block per token, one thread per (head, pair). The angle is
// float(position) * inv_freq in fp32, as Hugging Face computes it.
#include <algorithm>

#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

__global__ void RopeKernel(float* x, const int32_t* __restrict__ positions,
                           const float* __restrict__ inv_freq, int64_t heads, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  const float pos = static_cast<float>(positions[blockIdx.x]);
  float* token = x + blockIdx.x * heads * head_dim;
  for (int64_t j = threadIdx.x; j < heads * half; j += blockDim.x) {
    const int64_t h = j / half, i = j % half;
    float s, c;
    sincosf(pos * inv_freq[i], &s, &c);
    float* v = token + h * head_dim;
    const float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

}  // namespace

void LaunchRope(float* x, const int32_t* positions, const float* inv_freq, int64_t tokens,
                int64_t heads, int64_t head_dim, cudaStream_t stream) {
  if (tokens == 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(256, heads * head_dim / 2));
  RopeKernel<<<static_cast<unsigned>(tokens), threads, 0, stream>>>(x, positions, inv_freq, heads,
                                                                    head_dim);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
