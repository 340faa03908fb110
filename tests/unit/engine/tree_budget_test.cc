// TreeBudget: the tree size that maximises expected tokens per second, from measured pass
// costs and the draft's measured calibration.
#include <gtest/gtest.h>

#include <vector>

#include "common/engine/tree_budget.h"

namespace strata {
namespace {

std::vector<double> Geometric(double r, int n) {
  std::vector<double> p;
  double x = 1.0;
  for (int i = 0; i < n; ++i) p.push_back(x *= r);
  return p;
}

TEST(TreeBudget, UnmeasuredItTakesTheWholeTreeThenBuildsAroundItsChoice) {
  TreeBudget budget(64);
  EXPECT_EQ(budget.BuildCap(), 64);
  EXPECT_EQ(budget.Choose(Geometric(0.8, 40), 1.0), 40);
  EXPECT_EQ(budget.BuildCap(), 64);  // min(cap, 2 x 40)
  EXPECT_DOUBLE_EQ(budget.calibration(), 1.0);
}

TEST(TreeBudget, AFlatCostVerifiesEveryNodeARisingOneStopsEarly) {
  TreeBudget flat(256), rising(256);
  for (int32_t t = 1; t <= 256; t *= 2) {
    flat.Observe(t, 100.0, 0.0, 0);  // transfer-bound: every size costs a pass
    rising.Observe(t, 2.0 + t, 0.0, 0);  // compute-bound beyond a few tokens
  }
  const std::vector<double> p = Geometric(0.9, 200);
  EXPECT_EQ(flat.Choose(p, 1.0), 200);
  const int32_t n = rising.Choose(p, 1.0);
  EXPECT_GT(n, 0);
  EXPECT_LT(n, 32);
  EXPECT_EQ(rising.BuildCap(), std::max(8, 2 * n));
}

TEST(TreeBudget, ADraftThatIsNeverRightStopsSpeculatingWhereNodesCost) {
  // Passes of 1, 2, 4, 8, 16 tokens measured at 10, 12, 14, 16, 20 ms.
  auto measured = [](TreeBudget& b) {
    for (const auto& [t, ms] : {std::pair{1, 10.0}, {2, 12.0}, {4, 14.0}, {8, 16.0}, {16, 20.0}}) {
      b.Observe(t, ms, 0.0, 0);
    }
  };
  TreeBudget budget(64);
  for (int i = 0; i < 40; ++i) budget.Observe(17, 20.0, 5.0, 0);  // expected 5, got none
  measured(budget);
  EXPECT_DOUBLE_EQ(budget.calibration(), 0.05);  // the floor
  EXPECT_EQ(budget.Choose(Geometric(0.3, 16), 0.5), 0);
  // Calibrated by acceptance above the draft's own estimate, a likely tree pays.
  TreeBudget trusted(64);
  trusted.Observe(17, 20.0, 5.0, 10);
  measured(trusted);
  EXPECT_DOUBLE_EQ(trusted.calibration(), 2.0);
  EXPECT_GE(trusted.Choose(Geometric(0.9, 16), 0.5), 8);
}

TEST(TreeBudget, CostsComeFromTheNearestMeasuredBucketBelow) {
  TreeBudget budget(64);
  EXPECT_EQ(budget.CostMs(5), 0.0);
  budget.Observe(1, 3.0, 0, 0);
  budget.Observe(32, 9.0, 0, 0);
  EXPECT_EQ(budget.CostMs(1), 3.0);
  EXPECT_EQ(budget.CostMs(20), 3.0);  // bucket [16, 32) unmeasured: flat from below
  EXPECT_EQ(budget.CostMs(40), 9.0);
  budget.Observe(32, 19.0, 0, 0);
  EXPECT_DOUBLE_EQ(budget.CostMs(33), 0.9 * 9.0 + 0.1 * 19.0);  // a running mean
}

}  // namespace
}  // namespace strata
