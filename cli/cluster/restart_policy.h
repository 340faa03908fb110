// How `strata cluster up` restarts a worker process that died: at most `max_restarts` restarts
// within a sliding `window`, each after a backoff that starts at `first_backoff` and doubles
// with every restart still inside the window, up to `max_backoff`. A worker that stays up for
// a whole window is back to the first backoff. Thread-safety: one thread owns a RestartPolicy.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

namespace strata::cli {

struct RestartLimits {
  int max_restarts = 5;  // 0: never restart (the launcher's --max-restarts)
  std::chrono::milliseconds window{60'000};
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{8'000};
};

class RestartPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RestartPolicy(RestartLimits limits) : limits_(limits) {}

  // The process died at `now`: how long to wait before starting it again (counted as a
  // restart), or nullopt when it was restarted max_restarts times within the window already.
  std::optional<std::chrono::milliseconds> OnExit(Clock::time_point now);
  // Restarts counted within the window at the last OnExit.
  int recent_restarts() const { return static_cast<int>(restarts_.size()); }
  const RestartLimits& limits() const { return limits_; }

 private:
  const RestartLimits limits_;
  std::deque<Clock::time_point> restarts_;  // when each recent restart was decided, oldest first
};

}  // namespace strata::cli
