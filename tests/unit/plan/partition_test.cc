// The exact linear partition against brute force over every split, on random costs that
// are heterogeneous, not monotone, tie often and are sometimes infeasible.
#include <functional>
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "common/plan/partition.h"

namespace strata {
namespace {

struct Best {
  double pace = std::numeric_limits<double>::infinity();
  double sum = std::numeric_limits<double>::infinity();
};

// Every split of `layers` into `workers` positive parts, best by pace then sum.
Best BruteForce(size_t workers, int32_t layers, const WorkerCost& cost) {
  Best best;
  std::vector<int32_t> split;
  std::function<void(int32_t)> visit = [&](int32_t left) {
    if (split.size() + 1 == workers) {
      split.push_back(left);
      double pace = 0, sum = 0;
      bool fits = true;
      for (size_t w = 0; w < workers && fits; ++w) {
        const std::optional<double> c = cost(w, split[w]);
        fits = c.has_value();
        if (fits) pace = std::max(pace, *c), sum += *c;
      }
      if (fits && (pace < best.pace || (pace == best.pace && sum < best.sum))) best = {pace, sum};
      split.pop_back();
      return;
    }
    const int32_t others = static_cast<int32_t>(workers - split.size() - 1);
    for (int32_t k = 1; k <= left - others; ++k) {
      split.push_back(k);
      visit(left - k);
      split.pop_back();
    }
  };
  visit(layers);
  return best;
}

TEST(PartitionLayers, MatchesBruteForceOnRandomCosts) {
  std::mt19937 rng(7);
  int feasible = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t workers = 1 + rng() % 4;
    const int32_t layers = static_cast<int32_t>(workers + rng() % 9);
    // cost[w][k]: a random table (small integers, so ties are common); some entries missing.
    std::vector<std::vector<std::optional<double>>> table(workers);
    for (auto& row : table) {
      row.resize(static_cast<size_t>(layers) + 1);
      for (auto& c : row) {
        if (rng() % 10 != 0) c = static_cast<double>(rng() % 20);
      }
    }
    const WorkerCost cost = [&](size_t w, int32_t k) { return table[w][static_cast<size_t>(k)]; };
    const Best best = BruteForce(workers, layers, cost);
    const std::optional<std::vector<int32_t>> split = PartitionLayers(workers, layers, cost);
    ASSERT_EQ(split.has_value(), best.pace != std::numeric_limits<double>::infinity())
        << "trial " << trial;
    if (!split) continue;
    ++feasible;
    ASSERT_EQ(split->size(), workers);
    double pace = 0, sum = 0;
    int32_t total = 0;
    for (size_t w = 0; w < workers; ++w) {
      ASSERT_GE((*split)[w], 1);
      total += (*split)[w];
      const std::optional<double> c = cost(w, (*split)[w]);
      ASSERT_TRUE(c.has_value());
      pace = std::max(pace, *c);
      sum += *c;
    }
    EXPECT_EQ(total, layers);
    EXPECT_EQ(pace, best.pace) << "trial " << trial;
    EXPECT_EQ(sum, best.sum) << "trial " << trial;
  }
  EXPECT_GT(feasible, 300);  // the test exercised the optimum, not only infeasibility
}

TEST(PartitionLayers, SlowWorkerGetsFewerLayers) {
  // Worker 1 is three times slower per layer: 12 layers split 9 / 3.
  const WorkerCost cost = [](size_t w, int32_t k) -> std::optional<double> {
    return k * (w == 1 ? 3.0 : 1.0);
  };
  EXPECT_EQ(PartitionLayers(2, 12, cost), (std::vector<int32_t>{9, 3}));
}

TEST(PartitionLayers, NoSplitWhenAWorkerCannotHoldAnything) {
  const WorkerCost cost = [](size_t w, int32_t k) -> std::optional<double> {
    if (w == 2) return std::nullopt;
    return k;
  };
  EXPECT_FALSE(PartitionLayers(3, 10, cost).has_value());
}

}  // namespace
}  // namespace strata
