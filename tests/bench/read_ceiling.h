// The HBM read ceiling for the benchmarks: a kernel that only reads a buffer (16-byte
// streaming loads, several in flight per thread) and folds it into one word per block, so
// the bytes cannot be skipped. Thread-safety: the launcher is reentrant; ordering is the
// stream's.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace strata::bench {

// Reads `bytes` (a multiple of 16, 16-byte aligned) at `data` with `blocks` blocks;
// sink (blocks) receives one fold per block.
void LaunchReadAll(const void* data, size_t bytes, int blocks, uint32_t* sink,
                   cudaStream_t stream);

}  // namespace strata::bench
