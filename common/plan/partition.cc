// The dynamic programs of the exact linear partition (see partition.h).
#include "common/plan/partition.h"

#include <algorithm>
#include <limits>

#include "common/util/check.h"

namespace strata {
namespace {

constexpr double kNone = std::numeric_limits<double>::infinity();
using Table = std::vector<std::vector<double>>;  // (workers, layers + 1)

// The smallest largest cost over splits of every layer, using only cells that are not kNone.
double SmallestPace(const Table& cost, size_t layers) {
  const size_t workers = cost.size(), most = cost[0].size() - 1;
  Table pace(workers + 1, std::vector<double>(layers + 1, kNone));
  pace[0][0] = 0;
  for (size_t w = 1; w <= workers; ++w) {
    for (size_t l = w; l <= layers; ++l) {
      for (size_t k = 1; k <= std::min(most, l); ++k) {
        pace[w][l] = std::min(pace[w][l], std::max(pace[w - 1][l - k], cost[w - 1][k]));
      }
    }
  }
  return pace[workers][layers];
}

// `cost` with the cells above `limit` removed.
Table Within(const Table& cost, double limit) {
  Table kept = cost;
  for (auto& row : kept) {
    for (double& c : row) {
      if (c > limit) c = kNone;
    }
  }
  return kept;
}

}  // namespace

std::optional<std::vector<int32_t>> PartitionLayers(size_t workers, int32_t layers,
                                                    const WorkerCost& cost) {
  STRATA_CHECK(workers >= 1 && static_cast<size_t>(layers) >= workers);
  const size_t n = static_cast<size_t>(layers);
  const size_t most = n - workers + 1;  // the others need one layer each

  Table primary(workers, std::vector<double>(most + 1, kNone));
  Table secondary = primary;
  for (size_t w = 0; w < workers; ++w) {
    for (size_t k = 1; k <= most; ++k) {
      if (std::optional<WorkerCosts> c = cost(w, static_cast<int32_t>(k))) {
        primary[w][k] = c->primary;
        secondary[w][k] = c->secondary;
      }
    }
  }

  // Pass 1 and 2: the best primary pace, then the best secondary pace among splits that
  // keep the first. Each pass only removes cells, so the next stays exact. (Minimising the
  // tuple lexicographically in one pass would not be: a prefix with a worse pace but a
  // smaller sum can win once a later worker sets the pace.)
  const double primary_pace = SmallestPace(primary, n);
  if (primary_pace == kNone) return std::nullopt;
  Table allowed = Within(primary, primary_pace);
  for (size_t w = 0; w < workers; ++w) {
    for (size_t k = 1; k <= most; ++k) {
      if (allowed[w][k] == kNone) secondary[w][k] = kNone;
    }
  }
  const double secondary_pace = SmallestPace(secondary, n);
  STRATA_CHECK(secondary_pace != kNone);
  const Table kept_secondary = Within(secondary, secondary_pace);

  // Pass 3: among those, the smallest sum of primary costs.
  Table sum(workers + 1, std::vector<double>(n + 1, kNone));
  std::vector<std::vector<size_t>> choice(workers + 1, std::vector<size_t>(n + 1, 0));
  sum[0][0] = 0;
  for (size_t w = 1; w <= workers; ++w) {
    for (size_t l = w; l <= n; ++l) {
      for (size_t k = 1; k <= std::min(most, l); ++k) {
        if (kept_secondary[w - 1][k] == kNone || sum[w - 1][l - k] == kNone) continue;
        const double total = sum[w - 1][l - k] + primary[w - 1][k];
        if (total < sum[w][l]) {
          sum[w][l] = total;
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
