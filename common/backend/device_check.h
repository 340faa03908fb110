// One check for the status codes of device libraries — the CUDA runtime, cuBLAS/cuBLASLt,
// NCCL: a call that fails is a broken invariant or a dead device, never bad user input, so
// the process stops, naming the library, the device, the call, its error text and file:line
// (errors a caller can act on — a lost peer, exhausted memory — are Status values instead).
// The macros name library symbols only where they are expanded, so this header needs no
// device headers and a CPU build may include it; a file that uses STRATA_CUDA_CHECK includes
// <cuda_runtime.h>, one that uses STRATA_CUBLAS_CHECK <cublasLt.h>.
// Thread-safety: safe from any thread.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace strata {

[[noreturn]] inline void DeviceCheckFailed(const char* library, int device, const char* call,
                                           const char* error, const char* file, int line) {
  std::fprintf(stderr, "strata: %s error on device %d at %s:%d: %s: %s\n", library, device, file,
               line, call, error);
  std::abort();
}

}  // namespace strata

// `call` must return `success`; otherwise `error_text(status)` (a C string) is printed with
// `device` (an int, evaluated only then) and the process aborts.
#define STRATA_DEVICE_CHECK(library, call, success, error_text, device)                       \
  do {                                                                                        \
    const auto strata_device_status_ = (call);                                                \
    if (strata_device_status_ != (success)) {                                                 \
      ::strata::DeviceCheckFailed(library, (device), #call, error_text(strata_device_status_), \
                                  __FILE__, __LINE__);                                        \
    }                                                                                         \
  } while (0)

// The calling thread's current CUDA device (-1 when even that cannot be read).
#define STRATA_CURRENT_CUDA_DEVICE() \
  [] {                               \
    int strata_device_ = -1;         \
    cudaGetDevice(&strata_device_);  \
    return strata_device_;           \
  }()

#define STRATA_CUDA_CHECK(call) \
  STRATA_DEVICE_CHECK("CUDA", call, cudaSuccess, cudaGetErrorString, STRATA_CURRENT_CUDA_DEVICE())
#define STRATA_CUBLAS_CHECK(call)                                                \
  STRATA_DEVICE_CHECK("cuBLAS", call, CUBLAS_STATUS_SUCCESS, cublasLtGetStatusName, \
                      STRATA_CURRENT_CUDA_DEVICE())
