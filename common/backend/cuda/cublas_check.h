// STRATA_CUBLAS_CHECK: aborts with the call, cuBLAS's status name and file:line when a
// cuBLAS / cuBLASLt call fails — a broken invariant or a dead device, never bad user input.
// Thread-safety: safe from any thread.
#pragma once

#include <cublasLt.h>

#include <cstdio>
#include <cstdlib>

#define STRATA_CUBLAS_CHECK(call)                                                                \
  do {                                                                                           \
    const cublasStatus_t strata_cublas_status_ = (call);                                         \
    if (strata_cublas_status_ != CUBLAS_STATUS_SUCCESS) {                                        \
      std::fprintf(stderr, "strata: cuBLAS error at %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                   cublasLtGetStatusName(strata_cublas_status_));                                \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)
