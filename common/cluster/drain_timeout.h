// The drain timeout both binaries take as --drain-timeout-s: how long a stopping coordinator
// lets the requests it accepted finish, and how long a leaving worker waits for the
// coordinator to release it before it leaves anyway. One default and one range for both,
// so a Kubernetes terminationGracePeriodSeconds can be set from one figure.
// Thread-safety: constants and a pure function.
#pragma once

#include <chrono>

#include "common/util/status.h"

namespace strata::cluster {

inline constexpr double kDefaultDrainTimeoutS = 30;
inline constexpr double kMaxDrainTimeoutS = 3600;

// --drain-timeout-s as a duration; kInvalidArgument outside 0 to kMaxDrainTimeoutS (0: stop
// without waiting).
StatusOr<std::chrono::milliseconds> DrainTimeout(double seconds);

}  // namespace strata::cluster
