// ValidateSamplingParams (see sampling_params.h).
#include "common/serving/sampling_params.h"

#include <cmath>
#include <string>

namespace strata {

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f) {
    return InvalidArgument("temperature must be a finite number >= 0 (0 means greedy), got " +
                           std::to_string(p.temperature));
  }
  if (p.top_k < 0) {
    return InvalidArgument("top_k must be >= 0 (0 means no limit), got " + std::to_string(p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return InvalidArgument("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  return OkStatus();
}

}  // namespace strata
