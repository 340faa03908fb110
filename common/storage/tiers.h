// Residency tiers of a worker's layers and where each layer's bytes live (LayerHome): what
// the planner (common/plan/placement.h) decides and the streaming executor
// (common/engine/streaming_executor.h) carries out. Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

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

}  // namespace strata
