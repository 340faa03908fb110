// Tensor: a non-owning, row-major 2-D view of backend ("device") memory. Activations,
// KV-cache blocks and scratch are Tensors; weights are WeightViews (model/llama_weights.h).
// Thread-safety: a plain view.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/model/dtype.h"
#include "common/util/check.h"

namespace strata {

struct Tensor {
  std::byte* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;

  int64_t numel() const { return rows * cols; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * DTypeSize(dtype); }
  float* f32() const {
    STRATA_CHECK(dtype == DType::kF32);
    return reinterpret_cast<float*>(data);
  }
  // Rows [first, first + count) of this tensor.
  Tensor Rows(int64_t first, int64_t count) const {
    STRATA_CHECK(first >= 0 && count >= 0 && first + count <= rows);
    return {data + static_cast<size_t>(first * cols) * DTypeSize(dtype), dtype, count, cols};
  }
};

}  // namespace strata
