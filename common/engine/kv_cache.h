// KvCache: the keys and values of every live sequence for a range of layers, in backend
// memory, allocated once: per layer K and V of (slots * max_seq_len, kv_dim) fp32. A
// sequence owns one slot from Acquire until Release; its length is how many positions
// are filled. Thread-safety: one thread (the engine's) uses an instance.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/backend/backend.h"
#include "common/model/config.h"
#include "common/util/status.h"

namespace strata {

class KvCache {
 public:
  // Allocates the cache for `num_layers` layers (KvCacheBytes, common/model/forward_memory.h);
  // kResourceExhausted when it does not fit.
  static StatusOr<KvCache> Create(Backend& backend, const ModelConfig& config, int32_t num_layers,
                                  int32_t slots, int32_t max_seq_len);


  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;

  int32_t slots() const { return static_cast<int32_t>(length_.size()); }
  int32_t max_seq_len() const { return max_seq_len_; }
  const KvLayer& layer(int32_t i) const { return layers_[static_cast<size_t>(i)]; }

  // A free slot with length 0, or nullopt when all are taken.
  std::optional<int32_t> Acquire();
  void Release(int32_t slot);
  bool in_use(int32_t slot) const { return in_use_[static_cast<size_t>(slot)]; }
  int32_t length(int32_t slot) const { return length_[static_cast<size_t>(slot)]; }
  // Records that `n` more positions of `slot` were written.
  void Advance(int32_t slot, int32_t n);
  // After a token tree (speculative decoding): keeps rows [0, base) of `slot` and the tree
  // rows `rows` (ascending, each in [base, length)), moved down to base, base + 1, … in
  // every layer (copies on the backend's compute stream); the length becomes base +
  // rows.size(). Errors (kInvalidArgument, nothing changed): a slot not in use, base past
  // the length, rows out of range or not ascending.
  Status KeepRows(Backend& backend, int32_t slot, int32_t base, std::span<const int32_t> rows);

 private:
  KvCache() = default;
  DeviceBuffer storage_;          // all layers' K and V, back to back
  std::vector<KvLayer> layers_;   // views into storage_
  std::vector<int32_t> length_;   // (slots) filled positions
  std::vector<bool> in_use_;      // (slots)
  int32_t max_seq_len_ = 0;
};

}  // namespace strata
