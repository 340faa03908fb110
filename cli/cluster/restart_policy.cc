// RestartPolicy (see restart_policy.h).
#include "cli/cluster/restart_policy.h"

#include <algorithm>

namespace strata::cli {

std::optional<std::chrono::milliseconds> RestartPolicy::OnExit(Clock::time_point now) {
  while (!restarts_.empty() && now - restarts_.front() >= limits_.window) restarts_.pop_front();
  if (recent_restarts() >= limits_.max_restarts) return std::nullopt;
  std::chrono::milliseconds backoff = limits_.first_backoff;
  for (size_t i = 0; i < restarts_.size() && backoff < limits_.max_backoff; ++i) backoff *= 2;
  restarts_.push_back(now);
  return std::min(backoff, limits_.max_backoff);
}

}  // namespace strata::cli
