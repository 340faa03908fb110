// The drain timeout (see drain_timeout.h).
#include "common/cluster/drain_timeout.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace strata::cluster {

StatusOr<std::chrono::milliseconds> DrainTimeout(double seconds) {
  if (!(seconds >= 0 && seconds <= kMaxDrainTimeoutS)) {
    char message[128];
    std::snprintf(message, sizeof(message),
                  "--drain-timeout-s must be from 0 to %g seconds (0: stop without waiting), "
                  "got %g",
                  kMaxDrainTimeoutS, seconds);
    return InvalidArgument(message);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace strata::cluster
