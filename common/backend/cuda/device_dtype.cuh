// Device-side storage types of the weight dtypes, their conversion to float, and a host
// helper that calls a generic lambda with the storage type of a runtime DType — for kernels
// templated on a weight's element type. Thread-safety: pure functions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "common/model/dtype.h"
#include "common/util/check.h"

namespace strata::cuda {

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ToFloat(__half v) { return __half2float(v); }
__device__ __forceinline__ float ToFloat(__nv_fp8_e4m3 v) { return static_cast<float>(v); }

// Calls f(T{}) where T is the device storage type of `dtype`.
template <typename F>
void DispatchDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kF32:
      f(float{});
      return;
    case DType::kF16:
      f(__half{});
      return;
    case DType::kBF16:
      f(__nv_bfloat16{});
      return;
    case DType::kF8E4M3:
      f(__nv_fp8_e4m3{});
      return;
    case DType::kU4:
      break;  // half-byte codes with group scales: no element type; their kernels are apart
  }
  STRATA_CHECK_MSG(false, "this kernel takes no int4 weights");
}

}  // namespace strata::cuda
