// The batch-indexed row moves (see batch_rows.h): one block per row, threads along columns.
#include <algorithm>

#include "common/backend/cuda/batch_rows.h"
#include "common/backend/cuda/device_dtype.cuh"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

int ThreadsFor(int64_t cols) {
  return static_cast<int>(std::min<int64_t>(kThreads, (cols + 31) / 32 * 32));
}

template <typename T>
__global__ void EmbedKernel(const T* __restrict__ table, const float* __restrict__ row_scales,
                            int64_t cols, const int32_t* __restrict__ ids,
                            float* __restrict__ out) {
  const int64_t id = ids[blockIdx.x];
  const T* row = table + id * cols;
  const float scale = row_scales != nullptr ? row_scales[id] : 1.0f;
  float* dst = out + blockIdx.x * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = ToFloat(row[c]) * scale;
}

__global__ void StoreKvKernel(const float* __restrict__ k, const float* __restrict__ v,
                              int64_t kv_dim, const int32_t* __restrict__ token_slot,
                              const int32_t* __restrict__ rows, int64_t max_seq_len,
                              float* __restrict__ cache_k, float* __restrict__ cache_v) {
  const int64_t t = blockIdx.x;
  const int64_t dst = (token_slot[t] * max_seq_len + rows[t]) * kv_dim;
  for (int64_t c = threadIdx.x; c < kv_dim; c += blockDim.x) {
    cache_k[dst + c] = k[t * kv_dim + c];
    cache_v[dst + c] = v[t * kv_dim + c];
  }
}

__global__ void GatherRowsKernel(const float* __restrict__ x, int64_t cols,
                                 const int32_t* __restrict__ rows, float* __restrict__ out) {
  const float* src = x + rows[blockIdx.x] * cols;
  float* dst = out + blockIdx.x * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = src[c];
}

}  // namespace

void LaunchEmbed(const void* table, DType dtype, const float* row_scales, int64_t cols,
                 const int32_t* ids, int64_t tokens, float* out, cudaStream_t stream) {
  if (tokens == 0) return;
  DispatchDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    EmbedKernel<T><<<static_cast<unsigned>(tokens), ThreadsFor(cols), 0, stream>>>(
        static_cast<const T*>(table), row_scales, cols, ids, out);
  });
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchStoreKv(const float* k, const float* v, int64_t tokens, int64_t kv_dim,
                   const int32_t* token_slot, const int32_t* rows, int64_t max_seq_len,
                   float* cache_k, float* cache_v, cudaStream_t stream) {
  if (tokens == 0) return;
  StoreKvKernel<<<static_cast<unsigned>(tokens), ThreadsFor(kv_dim), 0, stream>>>(
      k, v, kv_dim, token_slot, rows, max_seq_len, cache_k, cache_v);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

void LaunchGatherRows(const float* x, int64_t cols, const int32_t* rows, int64_t n, float* out,
                      cudaStream_t stream) {
  if (n == 0) return;
  GatherRowsKernel<<<static_cast<unsigned>(n), ThreadsFor(cols), 0, stream>>>(x, cols, rows, out);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace strata::cuda
