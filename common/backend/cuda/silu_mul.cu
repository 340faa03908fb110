// SwiGLU's elementwise half: out = silu(gate) * up (and optionally its bf16 rounding),
// grid-stride over n elements.
#include <algorithm>

#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

__global__ void SiluMulKernel(const float* gate, const float* up, int64_t n, float* out,
                              __nv_bfloat16* out_bf16) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    const float y = g / (1.0f + expf(-g)) * up[i];
    out[i] = y;
    if (out_bf16 != nullptr) out_bf16[i] = __float2bfloat16_rn(y);
  }
}

}  // namespace

void LaunchSiluMul(const float* gate, const float* up, int64_t n, float* out,
                   __nv_bfloat16* out_bf16, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65535);
  SiluMulKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(gate, up, n, out,
                                                                      out_bf16);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
