// The exact linear partition against brute force over every split, on random costs that
// are heterogeneous, not monotone, tie often and are sometimes infeasible.
#include <functional>
#include <limits>
#include <random>
#include <tuple>

#include <gtest/gtest.h>

#include "common/plan/partition.h"

namespace strata {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct Best {
  double pace = kInf;            // largest primary cost
  double secondary_pace = kInf;  // largest secondary cost
  double sum = kInf;             // sum of primary costs

  bool operator<(const Best& o) const {
    return std::tie(pace, secondary_pace, sum) < std::tie(o.pace, o.secondary_pace, o.sum);
  }
};

// The split's costs; pace kInf when a worker cannot hold its part.
Best Evaluate(const std::vector<int32_t>& split, const WorkerCost& cost) {
  Best b{0, 0, 0};
  for (size_t w = 0; w < split.size(); ++w) {
    const std::optional<WorkerCosts> c = cost(w, split[w]);
    if (!c) return Best{};
    b.pace = std::max(b.pace, c->primary);
    b.secondary_pace = std::max(b.secondary_pace, c->secondary);
    b.sum += c->primary;
  }
  return b;
}

// Every split of `layers` into `workers` positive parts, the best by pace, secondary pace
// and sum.
Best BruteForce(size_t workers, int32_t layers, const WorkerCost& cost) {
  Best best;
  std::vector<int32_t> split;
  std::function<void(int32_t)> visit = [&](int32_t left) {
    if (split.size() + 1 == workers) {
      split.push_back(left);
      best = std::min(best, Evaluate(split, cost));
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
    std::vector<std::vector<std::optional<WorkerCosts>>> table(workers);
    for (auto& row : table) {
      row.resize(static_cast<size_t>(layers) + 1);
      for (auto& c : row) {
        if (rng() % 10 != 0) {
          c = WorkerCosts{static_cast<double>(rng() % 20), static_cast<double>(rng() % 20)};
        }
      }
    }
    const WorkerCost cost = [&](size_t w, int32_t k) { return table[w][static_cast<size_t>(k)]; };
    const Best best = BruteForce(workers, layers, cost);
    const std::optional<std::vector<int32_t>> split = PartitionLayers(workers, layers, cost);
    ASSERT_EQ(split.has_value(), best.pace != kInf) << "trial " << trial;
    if (!split) continue;
    ++feasible;
    ASSERT_EQ(split->size(), workers);
    int32_t total = 0;
    for (int32_t k : *split) {
      ASSERT_GE(k, 1);
      total += k;
    }
    EXPECT_EQ(total, layers);
    const Best found = Evaluate(*split, cost);
    EXPECT_EQ(found.pace, best.pace) << "trial " << trial;
    EXPECT_EQ(found.secondary_pace, best.secondary_pace) << "trial " << trial;
    EXPECT_EQ(found.sum, best.sum) << "trial " << trial;
  }
  EXPECT_GT(feasible, 300);  // the test exercised the optimum, not only infeasibility
}

TEST(PartitionLayers, SlowWorkerGetsFewerLayers) {
  // Worker 1 is three times slower per layer: 12 layers split 9 / 3.
  const WorkerCost cost = [](size_t w, int32_t k) -> std::optional<WorkerCosts> {
    const double t = k * (w == 1 ? 3.0 : 1.0);
    return WorkerCosts{t, t};
  };
  EXPECT_EQ(PartitionLayers(2, 12, cost), (std::vector<int32_t>{9, 3}));
}

TEST(PartitionLayers, SecondaryCostBreaksTiesOfThePrimary) {
  // The primary pace is 10 for any split of 3 workers (a constant); the secondary is the
  // layer count, so the split must be even.
  const WorkerCost cost = [](size_t, int32_t k) -> std::optional<WorkerCosts> {
    return WorkerCosts{10, static_cast<double>(k)};
  };
  EXPECT_EQ(PartitionLayers(3, 12, cost), (std::vector<int32_t>{4, 4, 4}));
}

TEST(PartitionLayers, NoSplitWhenAWorkerCannotHoldAnything) {
  const WorkerCost cost = [](size_t w, int32_t k) -> std::optional<WorkerCosts> {
    if (w == 2) return std::nullopt;
    return WorkerCosts{static_cast<double>(k), 0};
  };
  EXPECT_FALSE(PartitionLayers(3, 10, cost).has_value());
}

}  // namespace
}  // namespace strata
