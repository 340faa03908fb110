// Kernels behind CudaBackend's benchmark ceilings (cuda_probes.cc): a device-memory read
// that touches every byte once with 16-byte loads, and a fill of GEMM inputs with
// deterministic pseudo-random values. Thread-safety: launchers are reentrant; ordering is
// the stream's.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/model/dtype.h"

namespace strata::cuda {

// Reads `bytes` (a multiple of 16) at `data` (16-byte aligned); writes *sink only for an
// improbable checksum, so the loads cannot be dropped. `blocks` should cover the SMs several
// times over.
void LaunchReadAll(const void* data, size_t bytes, unsigned* sink, int blocks, cudaStream_t stream);

// data (n) of `dtype` = values in [-1, 1) derived from the index and `seed`.
void LaunchFillPattern(void* data, DType dtype, size_t n, uint32_t seed, cudaStream_t stream);

}  // namespace strata::cuda
