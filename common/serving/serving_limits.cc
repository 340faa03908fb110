// ValidateServingLimits (see serving_limits.h).
#include "common/serving/serving_limits.h"

#include <string>

namespace strata {
namespace {

Status CheckRange(const char* flag, int64_t value, int64_t high, const std::string& high_name) {
  if (value >= 1 && value <= high) return OkStatus();
  return InvalidArgument(std::string(flag) + " must be from 1 to " + high_name + ", got " +
                         std::to_string(value));
}

}  // namespace

Status ValidateServingLimits(const ServingLimits& limits, int64_t max_positions) {
  STRATA_RETURN_IF_ERROR(CheckRange("--max-batch-tokens", limits.max_batch_tokens,
                                    kMaxBatchTokensLimit, std::to_string(kMaxBatchTokensLimit)));
  STRATA_RETURN_IF_ERROR(CheckRange(
      "--max-seq-len", limits.max_seq_len, max_positions,
      "the model's " + std::to_string(max_positions) + " positions (max_position_embeddings)"));
  return CheckRange("--kv-slots", limits.kv_slots, kMaxKvSlots, std::to_string(kMaxKvSlots));
}

}  // namespace strata
