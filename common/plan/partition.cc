// The two-pass dynamic program of the exact linear partition (see partition.h).
#include "common/plan/partition.h"

#include <algorithm>
#include <limits>

#include "common/util/check.h"

namespace strata {

std::optional<std::vector<int32_t>> PartitionLayers(size_t workers, int32_t layers,
                                                    const WorkerCost& cost) {
  STRATA_CHECK(workers >= 1 && static_cast<size_t>(layers) >= workers);
  constexpr double kNone = std::numeric_limits<double>::infinity();
  const size_t n = static_cast<size_t>(layers);
  const size_t most = n - workers + 1;  // the others need one layer each

  // costs[w][k]: worker w holding k layers (kNone where it cannot).
  std::vector<std::vector<double>> costs(workers, std::vector<double>(most + 1, kNone));
  for (size_t w = 0; w < workers; ++w) {
    for (size_t k = 1; k <= most; ++k) {
      if (std::optional<double> c = cost(w, static_cast<int32_t>(k))) costs[w][k] = *c;
    }
  }

  // Pass 1: pace[w][l] = the smallest largest cost of workers [0, w) holding layers [0, l).
  std::vector<std::vector<double>> pace(workers + 1, std::vector<double>(n + 1, kNone));
  pace[0][0] = 0;
  for (size_t w = 1; w <= workers; ++w) {
    for (size_t l = w; l <= n; ++l) {
      for (size_t k = 1; k <= std::min(most, l); ++k) {
        pace[w][l] = std::min(pace[w][l], std::max(pace[w - 1][l - k], costs[w - 1][k]));
      }
    }
  }
  const double best_pace = pace[workers][n];
  if (best_pace == kNone) return std::nullopt;

  // Pass 2: among splits with every cost <= best_pace, the smallest sum. (Minimising the
  // pair lexicographically in one pass would not be exact: a prefix with a worse pace but
  // a smaller sum can win once a later worker sets the pace.)
  std::vector<std::vector<double>> sum(workers + 1, std::vector<double>(n + 1, kNone));
  std::vector<std::vector<size_t>> choice(workers + 1, std::vector<size_t>(n + 1, 0));
  sum[0][0] = 0;
  for (size_t w = 1; w <= workers; ++w) {
    for (size_t l = w; l <= n; ++l) {
      for (size_t k = 1; k <= std::min(most, l); ++k) {
        const double c = costs[w - 1][k];
        if (c > best_pace || sum[w - 1][l - k] == kNone) continue;
        if (sum[w - 1][l - k] + c < sum[w][l]) {
          sum[w][l] = sum[w - 1][l - k] + c;
          choice[w][l] = k;
        }
      }
    }
  }
  STRATA_CHECK(sum[workers][n] != kNone);
  std::vector<int32_t> split(workers);
  for (size_t w = workers, l = n; w > 0; --w) {
    split[w - 1] = static_cast<int32_t>(choice[w][l]);
    l -= choice[w][l];
  }
  return split;
}

}  // namespace strata
