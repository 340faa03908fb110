// Tier names (see tiers.h).
#include "common/storage/tiers.h"

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

}  // namespace strata
