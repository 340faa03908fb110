// Summary statistics of repeated timings, as the seed report gives them.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <vector>

namespace strata {

struct SampleStats {
  int64_t n = 0;
  double mean = 0, min = 0, max = 0;
  double std = 0;  // population standard deviation
};

// All zero for no samples.
SampleStats Summarize(const std::vector<double>& samples);

}  // namespace strata
