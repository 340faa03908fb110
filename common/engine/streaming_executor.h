// StreamingExecutor: the LayerFeed that keeps each layer in its home (tiers.h, LayerHome) and
// streams the others to the compute stream:
//
//   pinned part of the layer ─────────────────────────────┐
//   reader (SSD, async, chunks) ──► pinned staging ring ──┴─► copy stream (H2D) ──►
//       GPU staging slots (one layer each) ──► compute stream
//
// A streamed layer's extent is assembled in a GPU slot — past a prefix that may stay on the
// GPU — from its pinned part (one copy) and the rest of it, read from the SSD in chunks of
// `chunk_bytes` into a ring of
// `staging_chunks` pinned slots and copied out chunk by chunk as reads land. Reads run ahead
// as far as the ring allows — across layers and, when a pass completes, into the next pass —
// so the staging memory is a few chunks, not whole layers. Copies run up to
// `gpu_slots - 1` layers ahead of the layer being computed. A ring slot is refilled only
// after the copy out of it completed (polled; the host blocks only when it needs the slot); a
// GPU slot only after the compute that used it (the copy stream waits on the event, the host
// does not). Layers with resident bytes are read once at Create and checksummed whole (a
// split layer's streamed rest is read once through the ring for that); GPU layers load
// through the ring too, so no load needs more pinned memory than the ring. Every slot,
// buffer and event is allocated at Create; a pass allocates nothing. `verify_streamed`
// hashes every streamed chunk in order, resuming from the hash of the layer's resident parts.
// Per layer and pass it records ssd_read, h2d, compute and wait times (tiers.h).
// Thread-safety: driven by one thread (the model's).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/backend/backend.h"
#include "common/engine/layer_feed.h"
#include "common/engine/layer_source.h"
#include "common/engine/pass_timing.h"
#include "common/storage/tiers.h"
#include "common/util/xxh3_stream.h"

namespace strata {

// How to stream: decided by common/plan/placement.h (or given by hand), executed here.
struct StreamingOptions {
  std::vector<LayerHome> homes;  // (num_layers) where each layer lives
  int32_t gpu_slots = 0;         // GPU staging slots; >= 1 when any layer is streamed
  int32_t staging_chunks = 0;    // pinned staging ring; >= 1 when any layer has SSD bytes or
                                 // is loaded to the GPU; at most the source's max_reads()
  size_t chunk_bytes = 0;        // one SSD read and ring slot, a multiple of 4096
  bool verify_streamed = false;  // checksum every streamed layer (costs host CPU time)
};

class StreamingExecutor final : public LayerFeed {
 public:
  // Allocates slots and resident layers and loads the resident ones. Errors: options that do
  // not fit the source (kInvalidArgument), memory unavailable (kResourceExhausted, with the
  // bytes asked for), a read or checksum failure (kDataLoss).
  static StatusOr<std::unique_ptr<StreamingExecutor>> Create(Backend& backend, LayerSource& source,
                                                             const StreamingOptions& options);
  ~StreamingExecutor() override;

  Status BeginPass() override;
  StatusOr<const LlamaLayerWeights*> Acquire(int32_t layer) override;
  void Release(int32_t layer) override;
  void EndPass() override;

  size_t gpu_bytes() const { return gpu_bytes_; }        // resident layers, prefixes, slots
  size_t pinned_bytes() const { return pinned_bytes_; }  // pinned layers and parts + ring
  size_t ssd_bytes_per_pass() const { return ssd_bytes_per_pass_; }
  // Bytes copied to GPU staging slots per pass: every streamed layer's extent past its prefix.
  size_t h2d_bytes_per_pass() const { return h2d_bytes_per_pass_; }
  int32_t staging_chunks() const { return static_cast<int32_t>(ring_.size()); }
  int32_t gpu_slots() const { return static_cast<int32_t>(gpu_slot_weights_.size()); }
  const StreamingOptions& options() const { return options_; }
  // Timings of the last pass that completed.
  const PassTiming& last_pass() const { return last_pass_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct LayerEvents {
    std::unique_ptr<BackendEvent> h2d_start, prefix_end, h2d_end, compute_start, compute_end;
  };
  // One SSD read of a pass: a piece of a streamed layer's extent beyond its pinned prefix.
  struct Chunk {
    int32_t layer = 0;
    size_t offset = 0;  // in the layer's extent
    size_t bytes = 0;
    std::unique_ptr<BackendEvent> copy_start, copy_end;
  };
  enum class RingState : uint8_t { kFree, kReading, kCopying };
  struct RingSlot {
    RingState state = RingState::kFree;
    int32_t chunk = -1;  // the chunk read into it last
  };

  StreamingExecutor(Backend& backend, LayerSource& source, const StreamingOptions& options);
  Status Validate() const;
  Status Setup();
  Status LoadResidentLayers();
  // Reads [from, to) of `layer`'s extent through ring slot 0, hashing it into `hash` and,
  // when `device_dst` is set, copying it there (device_dst[0] is the byte at `from`).
  Status ReadThroughRing(int32_t layer, size_t from, size_t to, Xxh3Stream& hash,
                         std::byte* device_dst);
  void ResetPass();
  // Issues the reads and copies that the windows around layer `current` allow; never blocks.
  Status Pump(int32_t current);
  bool RingSlotFree(size_t slot);
  Status IssueCopies(int32_t current);
  Status CopyChunk(int32_t chunk);
  void MarkReadDone(int32_t chunk);
  // Blocks until a read lands or a ring slot's copy completes (what Acquire waits for).
  Status WaitForProgress();
  void Drain();
  void HarvestTimings();
  std::byte* RingData(size_t slot) { return ring_data_.get() + slot * options_.chunk_bytes; }

  Backend& backend_;
  LayerSource& source_;
  StreamingOptions options_;
  int32_t n_ = 0;

  // Fixed at Create.
  std::vector<int32_t> stream_order_;  // streamed (non-GPU) layers in order
  std::vector<int32_t> stream_rank_;   // (n) index in stream_order_, or -1
  std::vector<size_t> gpu_prefix_;     // (n) GPU-resident prefix of each streamed layer
  std::vector<size_t> pinned_part_;    // (n) pinned bytes after it
  std::vector<int32_t> first_chunk_;   // (n) its first chunk, chunks in layer order
  std::vector<int32_t> chunk_count_;   // (n)
  std::vector<Chunk> chunks_;          // (chunks per pass) in read order
  std::vector<DeviceBuffer> resident_;          // GPU layers and prefixes, pinned parts
  std::vector<std::byte*> gpu_prefix_ptr_;      // (n) a streamed layer's GPU prefix (device)
  std::vector<std::byte*> pinned_ptr_;          // (n) its pinned part (host)
  std::vector<LlamaLayerWeights> gpu_weights_;  // (n) bound views of GPU-tier layers
  std::vector<Xxh3Stream> prefix_hash_;         // (n) hash state after the resident parts
  DeviceBuffer ring_data_;                      // (staging_chunks, chunk_bytes) pinned
  DeviceBuffer gpu_slots_;                      // (G, slot_bytes) device: a layer's extent
                                                //   from the end of its GPU prefix
  size_t slot_bytes_ = 0;
  std::vector<std::unique_ptr<BackendEvent>> ring_copied_;  // (staging_chunks)
  std::vector<LayerEvents> events_;                         // (n)
  std::unique_ptr<BackendEvent> pass_start_;
  size_t gpu_bytes_ = 0, pinned_bytes_ = 0, ssd_bytes_per_pass_ = 0, h2d_bytes_per_pass_ = 0;

  // Per pass.
  int32_t next_read_ = 0;        // next chunk to read
  int32_t next_copy_chunk_ = 0;  // next chunk to copy (copies go in chunk order)
  int32_t next_copy_ = 0;        // stream rank of the layer being copied
  bool copy_started_ = false;    // that layer's GPU slot is taken and its pinned part copied
  int32_t in_flight_reads_ = 0;
  int32_t released_ = 0;    // layers released this pass
  bool in_pass_ = false;
  bool primed_ = false;     // the next pass's prefetch started at the end of the last one
  Status deferred_;         // an error from that priming, reported by the next BeginPass
  std::vector<uint8_t> chunk_done_;                 // (chunks) read landed
  std::vector<Clock::time_point> chunk_submitted_;  // (chunks)
  Clock::time_point last_read_done_;                // when the latest read was seen done
  Clock::time_point pass_begun_;                    // BeginPass of the pass in progress
  bool timing_reads_ = false;  // between BeginPass and EndPass: reads seen done count
  std::vector<RingSlot> ring_;                      // (staging_chunks)
  std::vector<int32_t> gpu_slot_owner_;             // (G) layer last copied into it, or -1
  std::vector<LlamaLayerWeights> gpu_slot_weights_;  // (G) views of the layer in each slot
  Xxh3Stream stream_hash_;                           // the layer being copied (verify_streamed)
  PassTiming current_, last_pass_;
};

}  // namespace strata
