// Where Strata puts files of its own making that outlive no machine — a benchmark's synthetic
// pack, a local cluster's run directory: $TMPDIR when set, else /var/tmp, which stays on disk
// where /tmp may be a RAM-backed tmpfs (a pack there would never touch the SSD the benchmark
// means to measure, and would take memory the tiers count on). The one rule for both.
// Thread-safety: reads the environment only.
#pragma once

#include <string>

namespace strata {

std::string TempRoot();

}  // namespace strata
