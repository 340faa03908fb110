// The int4 conversions of gemm_convert.h: kU4 weights dequantised to bf16 for the prefill
// GEMM, and activations gathered into an act-order weight's column order for the GEMV. Both
// grid-stride. A weight's 8-column units (4 bytes of codes, one group) are written with one
// 16-byte store when the layout allows, else column by column.
#include <algorithm>

#include "common/backend/cuda/gemm_convert.h"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGridX = 4096;
constexpr unsigned kMaxGridY = 65535;

__device__ __forceinline__ float Bf16BitsToFloat(uint16_t bits) {
  return __uint_as_float(uint32_t{bits} << 16);
}

// Grid: (unit blocks, row blocks). A unit is kCols columns of a row in one group: kCols / 2
// bytes of codes. kCols 8 needs 4-byte aligned rows of codes; the 16-byte store also needs
// no col_perm and 16-byte aligned rows of out.
template <int kCols>
__global__ void __launch_bounds__(kThreads)
    U4ToBf16Kernel(const uint8_t* __restrict__ codes, const uint16_t* __restrict__ scales,
                   const uint16_t* __restrict__ zeros, int64_t group_size,
                   const int32_t* __restrict__ col_perm, int64_t rows, int64_t k, bool vector_store,
                   __nv_bfloat16* __restrict__ out) {
  const int64_t units = k / kCols, groups = k / group_size;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const uint8_t* row = codes + r * (k / 2);
    __nv_bfloat16* dst = out + r * k;
    for (int64_t u = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; u < units;
         u += int64_t{gridDim.x} * blockDim.x) {
      const int64_t j0 = u * kCols;
      const int64_t g = r * groups + j0 / group_size;
      const float s = Bf16BitsToFloat(scales[g]), z = Bf16BitsToFloat(zeros[g]);
      uint32_t bytes;  // kCols / 2 bytes of codes, column j0 in the low nibble
      if constexpr (kCols == 8) {
        bytes = *reinterpret_cast<const uint32_t*>(row + j0 / 2);
      } else {
        bytes = row[j0 / 2];
      }
      __align__(16) __nv_bfloat16 v[kCols];
#pragma unroll
      for (int i = 0; i < kCols; ++i) {
        v[i] = __float2bfloat16_rn((static_cast<float>((bytes >> (4 * i)) & 0xf) - z) * s);
      }
      if (vector_store) {
        if constexpr (kCols == 8) *reinterpret_cast<uint4*>(dst + j0) = *reinterpret_cast<uint4*>(v);
      } else {
#pragma unroll
        for (int i = 0; i < kCols; ++i) dst[col_perm != nullptr ? col_perm[j0 + i] : j0 + i] = v[i];
      }
    }
  }
}

__global__ void GatherToBf16Kernel(const float* __restrict__ x, int64_t rows, int64_t k,
                                   const int32_t* __restrict__ col_perm,
                                   __nv_bfloat16* __restrict__ out) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < k;
         j += int64_t{gridDim.x} * blockDim.x) {
      out[r * k + j] = __float2bfloat16_rn(x[r * k + col_perm[j]]);
    }
  }
}

dim3 GridFor(int64_t per_row, int64_t rows) {
  return dim3(static_cast<unsigned>(std::clamp<int64_t>((per_row + kThreads - 1) / kThreads, 1,
                                                        kMaxGridX)),
              static_cast<unsigned>(std::min<int64_t>(rows, kMaxGridY)));
}

}  // namespace

void LaunchU4ToBf16(const uint8_t* codes, const U4Groups& groups, const int32_t* col_perm,
                    int64_t rows, int64_t k, __nv_bfloat16* out, cudaStream_t stream) {
  STRATA_CHECK(groups.scales != nullptr && groups.zeros != nullptr && groups.group_size > 0 &&
               groups.group_size % 2 == 0 && k % groups.group_size == 0);
  if (rows * k == 0) return;
  // 8-column units need them inside a group and rows of codes on 4-byte boundaries.
  const bool units8 = groups.group_size % 8 == 0 && k % 8 == 0 &&
                      reinterpret_cast<uintptr_t>(codes) % 4 == 0;
  const bool vector_store = units8 && col_perm == nullptr &&
                            reinterpret_cast<uintptr_t>(out) % 16 == 0;
  if (units8) {
    U4ToBf16Kernel<8><<<GridFor(k / 8, rows), kThreads, 0, stream>>>(
        codes, groups.scales, groups.zeros, groups.group_size, col_perm, rows, k, vector_store,
        out);
  } else {
    U4ToBf16Kernel<2><<<GridFor(k / 2, rows), kThreads, 0, stream>>>(
        codes, groups.scales, groups.zeros, groups.group_size, col_perm, rows, k, false, out);
  }
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchGatherToBf16(const float* x, int64_t rows, int64_t k, const int32_t* col_perm,
                        __nv_bfloat16* out, cudaStream_t stream) {
  if (rows * k == 0) return;
  GatherToBf16Kernel<<<GridFor(k, rows), kThreads, 0, stream>>>(x, rows, k, col_perm, out);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
