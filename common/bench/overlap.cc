// AnalyzeOverlap (see overlap.h).
#include "common/bench/overlap.h"

#include <algorithm>
#include <cmath>

namespace strata {

OverlapAnalysis AnalyzeOverlap(double compute_ms, double h2d_ms, double ssd_ms) {
  OverlapAnalysis a;
  a.compute_ms = compute_ms;
  a.h2d_ms = h2d_ms;
  a.ssd_ms = ssd_ms;
  a.serial_ms = compute_ms + h2d_ms + ssd_ms;
  a.compute_share = compute_ms / a.serial_ms;
  a.h2d_share = h2d_ms / a.serial_ms;
  a.ssd_share = ssd_ms / a.serial_ms;
  a.h2d_exposed_ms = std::max(0.0, h2d_ms - compute_ms);
  a.ssd_exposed_ms = std::max(0.0, ssd_ms - compute_ms);
  a.ideal_ms = std::max({compute_ms, h2d_ms, ssd_ms});
  a.speedup = a.serial_ms / a.ideal_ms;
  a.prefetch_ssd = static_cast<int64_t>(std::ceil(ssd_ms / compute_ms));
  a.prefetch_h2d = static_cast<int64_t>(std::ceil(h2d_ms / compute_ms));
  a.bottleneck = a.ideal_ms == compute_ms ? "compute" : a.ideal_ms == ssd_ms ? "ssd" : "h2d";
  return a;
}

}  // namespace strata
