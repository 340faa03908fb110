// Summarize (see sample_stats.h).
#include "common/bench/sample_stats.h"

#include <algorithm>
#include <cmath>

namespace strata {

SampleStats Summarize(const std::vector<double>& samples) {
  SampleStats s;
  if (samples.empty()) return s;
  s.n = static_cast<int64_t>(samples.size());
  s.min = *std::min_element(samples.begin(), samples.end());
  s.max = *std::max_element(samples.begin(), samples.end());
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  double sq = 0;
  for (double v : samples) sq += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(sq / static_cast<double>(s.n));
  return s;
}

}  // namespace strata
