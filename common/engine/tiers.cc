// Tier names and the greedy tier assignment (see tiers.h).
#include "common/engine/tiers.h"

namespace strata {

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kGpu: return "gpu";
    case Tier::kPinned: return "pinned";
    case Tier::kSsd: return "ssd";
  }
  return "?";
}

std::optional<Tier> ParseTier(std::string_view name) {
  if (name == "gpu") return Tier::kGpu;
  if (name == "pinned") return Tier::kPinned;
  if (name == "ssd") return Tier::kSsd;
  return std::nullopt;
}

std::vector<Tier> AssignTiers(const std::vector<size_t>& extent_bytes, size_t gpu_budget,
                              size_t pinned_budget) {
  std::vector<Tier> tiers;
  tiers.reserve(extent_bytes.size());
  for (size_t bytes : extent_bytes) {
    if (bytes <= gpu_budget) {
      gpu_budget -= bytes;
      tiers.push_back(Tier::kGpu);
    } else if (bytes <= pinned_budget) {
      gpu_budget = 0;  // keep the GPU layers a prefix
      pinned_budget -= bytes;
      tiers.push_back(Tier::kPinned);
    } else {
      gpu_budget = pinned_budget = 0;
      tiers.push_back(Tier::kSsd);
    }
  }
  return tiers;
}

}  // namespace strata
