// Residency tiers of a worker's layers, where each layer's bytes live (LayerHome), and the
// per-layer, per-pass stage timings the streaming executor records. Who decides the homes is
// common/plan/placement.h; the engine only executes them. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace strata {

// Where a layer lives between passes.
enum class Tier : uint8_t {
  kGpu,     // loaded once into GPU memory
  kPinned,  // kept in pinned host memory, copied to a GPU staging slot every pass
  kSsd,     // some or all of its bytes read from the pack every pass through the pinned
            // staging ring, then copied
};

std::string_view TierName(Tier tier);  // "gpu", "pinned", "ssd"
std::optional<Tier> ParseTier(std::string_view name);

// One layer's stage times in one pass, in milliseconds (0 where the tier skips a stage).
// Where one decoder layer's bytes live between passes. A kGpu layer is loaded once. Any
// other layer is streamed to a GPU staging slot every pass, in three parts of its extent:
// [0, gpu_bytes) stays on the GPU (a prefix ending at one of the source's split points, so no
// tensor is cut; often 0), [gpu_bytes, gpu_bytes + pinned_bytes) in pinned host memory, the
// rest read from the SSD in chunks. kPinned: nothing is read (pinned_bytes is the rest of the
// extent); kSsd: something is. Byte counts are multiples of the pack alignment.
struct LayerHome {
  Tier tier = Tier::kSsd;
  size_t gpu_bytes = 0;     // streamed layers: the GPU-resident prefix
  size_t pinned_bytes = 0;  // kSsd: the pinned part (kPinned: implied, all after gpu_bytes)
};

struct LayerTiming {
  float ssd_read_ms = 0;  // its chunks' reads, each from its start (submitted, the previous
                          // read seen done, or the pass's start, whichever is last) to done
  float h2d_ms = 0;       // copies into the GPU staging slot (pinned part and SSD chunks)
  float compute_ms = 0;   // the layer's ops on the compute stream
  float wait_ms = 0;      // host blocked in Acquire waiting for the layer
};

struct PassTiming {
  std::vector<LayerTiming> layers;  // (num_layers)
  double wall_ms = 0;               // BeginPass -> end of the last layer's compute
};

}  // namespace strata
