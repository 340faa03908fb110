// STRATA_CUDA_CHECK: aborts with the device call, its error text and file:line when a CUDA
// runtime call fails — a broken invariant or a dead device, never bad user input.
// Thread-safety: safe from any thread.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define STRATA_CUDA_CHECK(call)                                                       \
  do {                                                                                \
    const cudaError_t strata_cuda_err_ = (call);                                      \
    if (strata_cuda_err_ != cudaSuccess) {                                            \
      int strata_dev_ = -1;                                                           \
      cudaGetDevice(&strata_dev_);                                                    \
      std::fprintf(stderr, "strata: CUDA error on device %d at %s:%d: %s: %s\n",      \
                   strata_dev_, __FILE__, __LINE__, #call,                            \
                   cudaGetErrorString(strata_cuda_err_));                             \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)
