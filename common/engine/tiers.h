// Residency tiers of a worker's layers and the per-layer, per-pass stage timings the
// streaming executor records. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace strata {

// Where a layer lives between passes.
enum class Tier : uint8_t {
  kGpu,     // loaded once into GPU memory
  kPinned,  // kept in pinned host memory, copied to a GPU staging slot every pass
  kSsd,     // read from the pack every pass into a pinned staging slot, then copied
};

std::string_view TierName(Tier tier);  // "gpu", "pinned", "ssd"
std::optional<Tier> ParseTier(std::string_view name);

// One layer's stage times in one pass, in milliseconds (0 where the tier skips a stage).
struct LayerTiming {
  float ssd_read_ms = 0;  // read started (submitted, or the previous read seen done) -> done
  float h2d_ms = 0;       // copy into the GPU staging slot
  float compute_ms = 0;   // the layer's ops on the compute stream
  float wait_ms = 0;      // host blocked in Acquire waiting for the layer
};

struct PassTiming {
  std::vector<LayerTiming> layers;  // (num_layers)
  double wall_ms = 0;               // BeginPass -> end of the last layer's compute
};

// Chooses home tiers front to back: GPU while `gpu_budget` lasts, then pinned while
// `pinned_budget` lasts, then SSD. Budgets are what is left for resident layers after the
// staging slots.
std::vector<Tier> AssignTiers(const std::vector<size_t>& extent_bytes, size_t gpu_budget,
                              size_t pinned_budget);

}  // namespace strata
