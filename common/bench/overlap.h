// The seed's overlap analysis of one streamed layer: given the mean compute, pinned → GPU
// and SSD → pinned times, the serial total and each stage's share, what compute hides, the
// ideal pipelined time (the slowest stage), the speed-up, and the prefetch distances
// D = ceil(transfer / compute) that would hide each transfer.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>

namespace strata {

struct OverlapAnalysis {
  double compute_ms = 0, h2d_ms = 0, ssd_ms = 0;
  double serial_ms = 0;                                 // compute + h2d + ssd
  double compute_share = 0, h2d_share = 0, ssd_share = 0;  // of serial, 0..1
  double h2d_exposed_ms = 0;  // max(0, h2d - compute): copy time compute cannot hide
  double ssd_exposed_ms = 0;  // max(0, ssd - compute)
  double ideal_ms = 0;        // max of the three: the pipelined time per layer
  double speedup = 0;         // serial / ideal
  int64_t prefetch_ssd = 0;   // ceil(ssd / compute)
  int64_t prefetch_h2d = 0;   // ceil(h2d / compute)
  const char* bottleneck = "";  // "compute", "h2d" or "ssd"
};

// All times > 0.
OverlapAnalysis AnalyzeOverlap(double compute_ms, double h2d_ms, double ssd_ms);

}  // namespace strata
