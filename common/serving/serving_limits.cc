// ValidateServingLimits (see serving_limits.h).
#include "common/serving/serving_limits.h"

#include <string>

namespace strata {

Status ValidateServingLimits(const ServingLimits& limits) {
  const auto check = [](const char* name, int32_t value) -> Status {
    if (value > 0) return OkStatus();
    return InvalidArgument(std::string(name) + " must be positive (got " + std::to_string(value) +
                           ")");
  };
  STRATA_RETURN_IF_ERROR(check("max_batch_tokens", limits.max_batch_tokens));
  STRATA_RETURN_IF_ERROR(check("max_seq_len", limits.max_seq_len));
  return check("kv_slots", limits.kv_slots);
}

}  // namespace strata
