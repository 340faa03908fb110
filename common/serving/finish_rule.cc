// The finish rule (see finish_rule.h).
#include "common/serving/finish_rule.h"

#include <algorithm>

namespace strata {

std::string_view FinishReasonName(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

std::optional<FinishReason> FinishAfter(int32_t token, int32_t generated, int32_t max_tokens,
                                        std::span<const int32_t> stop_ids) {
  if (std::find(stop_ids.begin(), stop_ids.end(), token) != stop_ids.end()) {
    return FinishReason::kStop;
  }
  if (generated >= max_tokens) return FinishReason::kLength;
  return std::nullopt;
}

}  // namespace strata
