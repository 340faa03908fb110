// RestartPolicy: the backoff doubles from its start up to its cap, restarts stop once
// max_restarts fall within the window, and a quiet window starts the backoff over.
#include "cli/cluster/restart_policy.h"

#include <gtest/gtest.h>

namespace strata::cli {
namespace {

using namespace std::chrono_literals;
using Clock = RestartPolicy::Clock;

TEST(RestartPolicyTest, BackoffDoublesToItsCapAndRestartsEndAtTheLimit) {
  RestartPolicy policy(RestartLimits{6, 60s, 500ms, 8s});
  const Clock::time_point t0;
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(policy.OnExit(t0 + i * 1s).value());
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{500ms, 1s, 2s, 4s, 8s, 8s}));
  EXPECT_EQ(policy.recent_restarts(), 6);
  EXPECT_FALSE(policy.OnExit(t0 + 7s).has_value());
}

TEST(RestartPolicyTest, RestartsOlderThanTheWindowNoLongerCount) {
  RestartPolicy policy(RestartLimits{2, 60s, 500ms, 8s});
  const Clock::time_point t0;
  EXPECT_EQ(policy.OnExit(t0), 500ms);
  EXPECT_EQ(policy.OnExit(t0 + 10s), 1s);
  EXPECT_FALSE(policy.OnExit(t0 + 20s).has_value());
  EXPECT_EQ(policy.OnExit(t0 + 61s), 1s);   // the first fell out of the window
  EXPECT_EQ(policy.OnExit(t0 + 200s), 500ms);  // a quiet window: from the start again
}

TEST(RestartPolicyTest, ZeroRestartsNeverRestarts) {
  RestartPolicy policy(RestartLimits{0, 60s, 500ms, 8s});
  EXPECT_FALSE(policy.OnExit(Clock::time_point()).has_value());
}

}  // namespace
}  // namespace strata::cli
