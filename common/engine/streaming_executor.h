// StreamingExecutor: the LayerFeed that keeps each layer in its home tier and streams the
// others to the compute stream through three queues:
//
//   reader (SSD, async) ──► pinned staging ring (S slots) ──► copy stream (H2D) ──►
//       GPU staging ring (G slots) ──► compute stream
//
// Reads run up to `prefetch_ssd` layers ahead of the layer being computed, copies up to
// `prefetch_h2d` layers ahead — across the end of a pass too: when a pass completes, the next
// pass's first reads and copies start at once; S = prefetch_ssd + 1 and G = prefetch_h2d + 1 slots suffice
// and bound memory. A pinned slot is refilled only after the copy out of it completed (host
// waits on its event); a GPU slot only after the compute that used it (the copy stream waits
// on the event, the host does not). GPU- and pinned-tier layers are read once at Create and
// checksummed. Every slot, buffer and event is allocated at Create; a pass allocates nothing.
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
#include "common/engine/tiers.h"

namespace strata {

struct StreamingOptions {
  std::vector<Tier> tiers;        // (num_layers) home tier of each layer
  int32_t prefetch_ssd = 2;       // reads start this many layers ahead (0: on demand)
  int32_t prefetch_h2d = 1;       // copies start this many layers ahead (0: on demand)
  bool verify_streamed = false;   // checksum every streamed read (costs host CPU time)
  size_t gpu_budget = 0;          // bytes of device memory the layers may use; 0 = no limit
  size_t pinned_budget = 0;       // bytes of pinned host memory; 0 = no limit
};

class StreamingExecutor final : public LayerFeed {
 public:
  // Allocates slots and resident layers and loads the resident ones. Errors: options that do
  // not fit the source (kInvalidArgument), memory over a budget or unavailable
  // (kResourceExhausted, with the bytes asked for), a read or checksum failure (kDataLoss).
  static StatusOr<std::unique_ptr<StreamingExecutor>> Create(Backend& backend, LayerSource& source,
                                                             const StreamingOptions& options);
  ~StreamingExecutor() override;

  Status BeginPass() override;
  StatusOr<const LlamaLayerWeights*> Acquire(int32_t layer) override;
  void Release(int32_t layer) override;
  void EndPass() override;

  size_t gpu_bytes() const { return gpu_bytes_; }        // resident layers + GPU slots
  size_t pinned_bytes() const { return pinned_bytes_; }  // pinned layers + pinned slots
  int32_t pinned_slots() const { return static_cast<int32_t>(pinned_slot_owner_.size()); }
  int32_t gpu_slots() const { return static_cast<int32_t>(gpu_slot_weights_.size()); }
  const StreamingOptions& options() const { return options_; }
  // Timings of the last pass that completed.
  const PassTiming& last_pass() const { return last_pass_; }

 private:
  struct LayerEvents {
    std::unique_ptr<BackendEvent> h2d_start, h2d_end, compute_start, compute_end;
  };
  using Clock = std::chrono::steady_clock;

  StreamingExecutor(Backend& backend, LayerSource& source, const StreamingOptions& options);
  Status Setup();
  void ResetPass();
  Status LoadResident(int32_t layer, std::byte* staging, std::byte* dst, bool dst_on_device);
  // Issues the reads and copies that the window ending at layer `current` allows.
  Status Pump(int32_t current);
  Status IssueCopy(int32_t layer);
  void MarkReadDone(int32_t layer);
  void Drain();
  void HarvestTimings();

  Backend& backend_;
  LayerSource& source_;
  StreamingOptions options_;
  int32_t n_ = 0;

  // Fixed at Create.
  std::vector<int32_t> ssd_order_;     // SSD-tier layers in order
  std::vector<int32_t> stream_order_;  // pinned- and SSD-tier layers in order
  std::vector<int32_t> ssd_rank_;      // (n) index in ssd_order_, or -1
  std::vector<int32_t> stream_rank_;   // (n) index in stream_order_, or -1
  std::vector<DeviceBuffer> resident_;          // GPU-tier layers (device) and pinned-tier (host)
  std::vector<std::byte*> resident_ptr_;        // (n) where a resident layer's extent lives
  std::vector<LlamaLayerWeights> gpu_weights_;  // (n) bound views of GPU-tier layers
  DeviceBuffer pinned_slots_;                   // (S, slot_bytes) pinned staging ring
  DeviceBuffer gpu_slots_;                      // (G, slot_bytes) GPU staging ring
  size_t slot_bytes_ = 0;
  std::vector<LayerEvents> events_;             // (n)
  std::unique_ptr<BackendEvent> pass_start_;
  size_t gpu_bytes_ = 0, pinned_bytes_ = 0;

  // Per pass.
  int32_t next_read_ = 0;   // index into ssd_order_
  int32_t next_copy_ = 0;   // index into stream_order_
  int32_t in_flight_reads_ = 0;
  int32_t released_ = 0;    // layers released this pass
  bool in_pass_ = false;
  bool primed_ = false;     // the next pass's prefetch started at the end of the last one
  Status deferred_;         // an error from that priming, reported by the next BeginPass
  std::vector<uint8_t> read_done_;                    // (n)
  std::vector<Clock::time_point> read_submitted_;     // (n)
  Clock::time_point last_read_done_;                  // when the latest read was seen done
  std::vector<int32_t> pinned_slot_owner_;            // (S) layer last read into the slot, or -1
  std::vector<int32_t> gpu_slot_owner_;               // (G) layer last copied into it, or -1
  std::vector<LlamaLayerWeights> gpu_slot_weights_;   // (G) views of the layer in each slot
  PassTiming current_, last_pass_;
};

}  // namespace strata
