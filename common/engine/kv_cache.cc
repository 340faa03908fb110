// KvCache (see kv_cache.h).
#include "common/engine/kv_cache.h"

#include <string>

#include "common/model/forward_memory.h"

namespace strata {

StatusOr<KvCache> KvCache::Create(Backend& backend, const ModelConfig& config, int32_t num_layers,
                                  int32_t slots, int32_t max_seq_len) {
  if (slots <= 0 || max_seq_len <= 0 || num_layers < 0) {
    return InvalidArgument("KV cache needs at least one slot and one position (got " +
                           std::to_string(slots) + " slots, " + std::to_string(max_seq_len) +
                           " positions)");
  }
  const int64_t rows = int64_t{slots} * max_seq_len;
  const size_t tensor_bytes = static_cast<size_t>(rows * config.kv_dim()) * sizeof(float);
  KvCache cache;
  STRATA_ASSIGN_OR_RETURN(cache.storage_,
                          backend.Allocate(KvCacheBytes(config, num_layers, slots, max_seq_len)));
  std::byte* p = cache.storage_.get();
  for (int32_t i = 0; i < num_layers; ++i) {
    KvLayer l;
    l.k = Tensor{p, DType::kF32, rows, config.kv_dim()};
    l.v = Tensor{p + tensor_bytes, DType::kF32, rows, config.kv_dim()};
    l.max_seq_len = max_seq_len;
    cache.layers_.push_back(l);
    p += 2 * tensor_bytes;
  }
  cache.length_.assign(static_cast<size_t>(slots), 0);
  cache.in_use_.assign(static_cast<size_t>(slots), false);
  cache.max_seq_len_ = max_seq_len;
  return cache;
}

std::optional<int32_t> KvCache::Acquire() {
  for (size_t i = 0; i < in_use_.size(); ++i) {
    if (!in_use_[i]) {
      in_use_[i] = true;
      length_[i] = 0;
      return static_cast<int32_t>(i);
    }
  }
  return std::nullopt;
}

void KvCache::Release(int32_t slot) {
  STRATA_CHECK(slot >= 0 && slot < slots() && in_use(slot));
  in_use_[static_cast<size_t>(slot)] = false;
  length_[static_cast<size_t>(slot)] = 0;
}

void KvCache::Advance(int32_t slot, int32_t n) {
  STRATA_CHECK(slot >= 0 && slot < slots() && in_use(slot));
  STRATA_CHECK(length(slot) + n <= max_seq_len_);
  length_[static_cast<size_t>(slot)] += n;
}

Status KvCache::KeepRows(Backend& backend, int32_t slot, int32_t base,
                         std::span<const int32_t> rows) {
  if (slot < 0 || slot >= slots() || !in_use(slot)) {
    return InvalidArgument("KV slot " + std::to_string(slot) + " is not in use");
  }
  const int32_t length = this->length(slot);
  if (base < 0 || base > length) {
    return InvalidArgument("keeping rows from " + std::to_string(base) + " of KV slot " +
                           std::to_string(slot) + ", which holds " + std::to_string(length));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const int32_t floor = i == 0 ? base : rows[i - 1] + 1;
    if (rows[i] < floor || rows[i] >= length) {
      return InvalidArgument("kept row " + std::to_string(rows[i]) + " of KV slot " +
                             std::to_string(slot) + " is not ascending within [" +
                             std::to_string(base) + ", " + std::to_string(length) + ")");
    }
  }
  // Runs of rows that move together: rows[i] goes to base + i <= rows[i], so a copy never
  // overwrites a row a later copy reads; a run is cut to its shift so that its source and
  // destination do not overlap.
  for (size_t i = 0; i < rows.size();) {
    const int32_t dst = base + static_cast<int32_t>(i);
    const size_t shift = static_cast<size_t>(rows[i] - dst);
    size_t run = 1;
    while (i + run < rows.size() && rows[i + run] == rows[i] + static_cast<int32_t>(run) &&
           (shift == 0 || run < shift)) {
      ++run;
    }
    if (rows[i] != dst) {
      for (const KvLayer& layer : layers_) {
        const int64_t first = int64_t{slot} * max_seq_len_;
        for (const Tensor& t : {layer.k, layer.v}) {
          backend.CopyToDeviceAsync(t.Rows(first + dst, static_cast<int64_t>(run)).data,
                                    t.Rows(first + rows[i], static_cast<int64_t>(run)).data,
                                    t.Rows(0, static_cast<int64_t>(run)).nbytes(),
                                    Stream::kCompute);
        }
      }
    }
    i += run;
  }
  length_[static_cast<size_t>(slot)] = base + static_cast<int32_t>(rows.size());
  return OkStatus();
}

}  // namespace strata
