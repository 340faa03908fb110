// LayerSource: what the streaming executor needs from where layers are stored (a pack on
// the local SSD): each layer's extent size, an asynchronous reader of extents into
// caller-provided (4 KiB-aligned, pinned) buffers, checksum verification, and binding an
// extent's bytes — wherever they sit — to the layer's weight views.
// Thread-safety: driven by one thread (the executor's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/model/llama_weights.h"
#include "common/util/status.h"

namespace strata {

class LayerSource {
 public:
  virtual ~LayerSource() = default;
  virtual int32_t num_layers() const = 0;
  // Bytes of layer `layer`'s extent (a multiple of 4096).
  virtual size_t extent_bytes(int32_t layer) const = 0;
  // Views of the layer's tensors over its extent's bytes at `base`.
  virtual StatusOr<LlamaLayerWeights> Bind(int32_t layer, const std::byte* base) const = 0;
  // kDataLoss naming the layer when the bytes at `base` do not match the stored checksum.
  virtual Status Verify(int32_t layer, const std::byte* base) const = 0;
  // Starts reading the layer's extent into `dst`; at most one read per layer in flight.
  virtual Status SubmitRead(int32_t layer, std::byte* dst) = 0;
  // Blocks until some submitted read completes; returns its layer.
  virtual StatusOr<int32_t> WaitRead() = 0;
  // A completed read's layer without blocking, or false when none has completed.
  virtual StatusOr<bool> PollRead(int32_t* layer) = 0;
  // How reads are done, e.g. "io_uring+O_DIRECT".
  virtual std::string_view read_path() const = 0;
};

}  // namespace strata
