// The tree rule of the attention kernels (attention.h) for one query and a tile of at most
// 64 consecutive keys: which of them its tree mask lets it see. The causal limit (keys up to
// the query's own row) stays the caller's.
// Thread-safety: pure device functions.
#pragma once

#include <cstdint>

#include "common/backend/batch.h"

namespace strata::cuda {

// Bit i set: key row k0 + i is visible under the mask of a query whose mask starts at
// `tree_base` — every row before tree_base, and row tree_base + b when bit b of `mask`
// (kTreeMaskWords words, device memory) is set; no row past kMaxTreeRows of the tree. A
// chain token (tree_base kChainTreeBase) gets all bits without reading its mask.
__device__ __forceinline__ uint64_t TreeWindow(const uint64_t* __restrict__ mask, int64_t k0,
                                               int32_t tree_base) {
  const int64_t off = k0 - tree_base;  // key k0's bit in the mask; negative: before the tree
  if (off <= -64) return ~uint64_t{0};
  if (off < 0) {
    const int before = static_cast<int>(-off);  // 1..63 keys before tree_base
    return (__ldg(mask) << before) | ((uint64_t{1} << before) - 1);
  }
  const int64_t word = off / 64;
  const int shift = static_cast<int>(off % 64);
  const uint64_t lo = word < kTreeMaskWords ? __ldg(mask + word) : 0;
  if (shift == 0) return lo;
  const uint64_t hi = word + 1 < kTreeMaskWords ? __ldg(mask + word + 1) : 0;
  return (lo >> shift) | (hi << (64 - shift));
}

// Whether a query at cache row `row` does not see key row `key`, bit `bit` of the query's
// TreeWindow `seen` for the key's tile: past its row, or (kTree) hidden by its mask. Without
// kTree, the causal test alone.
template <bool kTree>
__device__ __forceinline__ bool KeyHidden(int64_t key, int64_t row, uint64_t seen, int bit) {
  if constexpr (kTree) {
    return key > row || ((seen >> bit) & 1u) == 0;
  } else {
    return key > row;
  }
}

}  // namespace strata::cuda
