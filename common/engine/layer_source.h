// LayerSource: what the streaming executor needs from where layers are stored (a pack on
// the local SSD): each layer's extent size, an asynchronous reader of byte ranges of extents
// into caller-provided (4 KiB-aligned, pinned) buffers, checksum verification — of a whole
// extent in memory, or of a digest the caller computed piece by piece — and binding an
// extent's bytes, wherever they sit, to the layer's weight views.
// Thread-safety: driven by one thread (the executor's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/model/llama_weights.h"
#include "common/util/status.h"

namespace strata {

// Names one read: the layer it belongs to and the caller's index of the piece.
struct ReadId {
  int32_t layer = 0;
  int32_t piece = 0;
};

class LayerSource {
 public:
  virtual ~LayerSource() = default;
  virtual int32_t num_layers() const = 0;
  // Bytes of layer `layer`'s extent (a multiple of 4096).
  virtual size_t extent_bytes(int32_t layer) const = 0;
  // Views of the layer's tensors over its extent's bytes at `base`.
  virtual StatusOr<LlamaLayerWeights> Bind(int32_t layer, const std::byte* base) const = 0;
  // The same over an extent cut at `split` (one of SplitPoints): bytes before it at
  // `prefix`, the rest at `rest` (rest[0] is the extent's byte `split`).
  virtual StatusOr<LlamaLayerWeights> BindSplit(int32_t layer, const std::byte* prefix,
                                                size_t split, const std::byte* rest) const = 0;
  // Where the layer's extent may be cut without cutting a tensor, ascending.
  virtual std::vector<uint64_t> SplitPoints(int32_t layer) const = 0;
  // kDataLoss naming the layer when the bytes at `base` do not match the stored checksum.
  virtual Status Verify(int32_t layer, const std::byte* base) const = 0;
  // kDataLoss naming the layer when `xxh3` (of the whole extent) is not the stored checksum.
  virtual Status VerifyDigest(int32_t layer, uint64_t xxh3) const = 0;
  // Starts reading `bytes` at `offset` of layer `id.layer`'s extent into `dst` (offset and
  // bytes multiples of 4096, inside the extent).
  virtual Status SubmitRead(ReadId id, size_t offset, size_t bytes, std::byte* dst) = 0;
  // Reads that may be submitted and not yet returned by WaitRead/PollRead.
  virtual int32_t max_reads() const = 0;
  // Blocks until some submitted read completes; returns its id.
  virtual StatusOr<ReadId> WaitRead() = 0;
  // A completed read's id without blocking, or false when none has completed.
  virtual StatusOr<bool> PollRead(ReadId* id) = 0;
  // How reads are done, e.g. "io_uring+O_DIRECT".
  virtual std::string_view read_path() const = 0;
};

}  // namespace strata
