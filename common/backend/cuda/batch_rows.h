// Host launchers of the row moves a batch drives: the embedding gather by token id, the KV
// cache scatter by (slot, row), and the gather of chosen rows (each sequence's last
// token). The index arrays are device copies of the batch (see CudaBackend::BeginBatch).
// Each launcher enqueues on `stream` and returns.
// Thread-safety: launchers are reentrant; ordering is the stream's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/model/dtype.h"

namespace strata::cuda {

// out (tokens, cols) = float(table[ids[t]]) * row_scales[ids[t]]; table (vocab, cols) in
// `dtype`, row_scales (vocab) or nullptr (no scaling).
void LaunchEmbed(const void* table, DType dtype, const float* row_scales, int64_t cols,
                 const int32_t* ids, int64_t tokens, float* out, cudaStream_t stream);

// For each token t: row slot[t] * max_seq_len + rows[t] of cache_k and cache_v
// (slots * max_seq_len, kv_dim) = k[t] and v[t] (tokens, kv_dim).
void LaunchStoreKv(const float* k, const float* v, int64_t tokens, int64_t kv_dim,
                   const int32_t* token_slot, const int32_t* rows, int64_t max_seq_len,
                   float* cache_k, float* cache_v, cudaStream_t stream);

// out (n, cols) = x[rows[i]] for i < n; x (?, cols).
void LaunchGatherRows(const float* x, int64_t cols, const int32_t* rows, int64_t n, float* out,
                      cudaStream_t stream);

}  // namespace strata::cuda
