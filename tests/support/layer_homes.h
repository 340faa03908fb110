// Layer homes and executor options for tests, spelled as one letter per layer: g (GPU),
// p (pinned), s (read from the SSD), h (half of its extent pinned, the rest from the SSD),
// and with a GPU-resident prefix (cut between tensors): x (the first half of the tensors on
// the GPU, the rest from the SSD), y (the same, the rest pinned), z (the first tensor on the
// GPU, half of the rest pinned, the rest from the SSD).
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "common/engine/layer_source.h"
#include "common/engine/pack_model.h"
#include "common/engine/streaming_executor.h"
#include "common/storage/pack_format.h"
#include "common/util/direct_io.h"

namespace strata::testing {

// Chunks small enough that a tiny-fixture layer takes several reads.
inline constexpr size_t kTestChunkBytes = 8 << 10;

inline std::vector<LayerHome> Homes(const std::string& spec, const LayerSource& source) {
  std::vector<LayerHome> homes;
  for (size_t l = 0; l < spec.size(); ++l) {
    LayerHome h;
    const char c = spec[l];
    const auto layer = static_cast<int32_t>(l);
    const size_t extent = source.extent_bytes(layer);
    const std::vector<uint64_t> cuts = source.SplitPoints(layer);
    const auto half = [](size_t bytes) { return bytes / 2 / kDirectIoAlignment * kDirectIoAlignment; };
    h.tier = c == 'g' ? Tier::kGpu : c == 'p' || c == 'y' ? Tier::kPinned : Tier::kSsd;
    if (c == 'h') h.pinned_bytes = half(extent);
    if (c == 'x' || c == 'y') h.gpu_bytes = cuts[cuts.size() / 2];
    if (c == 'z') {
      h.gpu_bytes = cuts.front();
      h.pinned_bytes = half(extent - h.gpu_bytes);
    }
    homes.push_back(h);
  }
  return homes;
}

inline StreamingOptions Streaming(const std::string& spec, const LayerSource& source,
                                  int32_t gpu_slots = 2, int32_t staging_chunks = 4,
                                  size_t chunk_bytes = kTestChunkBytes) {
  StreamingOptions o;
  o.homes = Homes(spec, source);
  o.gpu_slots = gpu_slots;
  o.staging_chunks = staging_chunks;
  o.chunk_bytes = chunk_bytes;
  return o;
}

// Every layer of pack range [first, first + count) on the GPU.
inline PackModelOptions AllOnGpu(int32_t first, int32_t count) {
  PackModelOptions o;
  o.first_layer = first;
  o.num_layers = count;
  o.streaming.homes.assign(static_cast<size_t>(count), LayerHome{Tier::kGpu, 0});
  o.streaming.gpu_slots = 1;
  o.streaming.staging_chunks = 1;
  o.streaming.chunk_bytes = kTestChunkBytes;
  o.embed_on_gpu = true;
  return o;
}

}  // namespace strata::testing
