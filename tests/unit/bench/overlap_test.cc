// The overlap analysis reproduces seed-measurements.md from the seed's stage means, and the
// summary statistics are the textbook ones.
#include <gtest/gtest.h>

#include "common/bench/overlap.h"
#include "common/bench/sample_stats.h"

namespace strata {
namespace {

// Seed (RTX 5080, Llama 3.1 70B layer, 8-bit): 1a 172.92 ms, 1b 2.45 ms, 2 20.32 ms, 3 189.79 ms.
TEST(Overlap, ReproducesTheSeedPrefillAnalysis) {
  const OverlapAnalysis a = AnalyzeOverlap(172.92, 20.32, 189.79);
  EXPECT_NEAR(a.serial_ms, 383.03, 0.01);  // the seed prints 383.02 (rounded stage means)
  EXPECT_NEAR(100 * a.compute_share, 45.1, 0.05);
  EXPECT_NEAR(100 * a.h2d_share, 5.3, 0.05);
  EXPECT_NEAR(100 * a.ssd_share, 49.5, 0.05);
  EXPECT_EQ(a.h2d_exposed_ms, 0.0);
  EXPECT_NEAR(a.ssd_exposed_ms, 16.87, 0.005);
  EXPECT_DOUBLE_EQ(a.ideal_ms, 189.79);
  EXPECT_NEAR(a.speedup, 2.02, 0.005);
  EXPECT_EQ(a.prefetch_ssd, 2);
  EXPECT_EQ(a.prefetch_h2d, 1);
  EXPECT_STREQ(a.bottleneck, "ssd");
}

TEST(Overlap, ReproducesTheSeedDecodeAnalysis) {
  const OverlapAnalysis a = AnalyzeOverlap(2.45, 20.32, 189.79);
  EXPECT_NEAR(a.serial_ms, 212.56, 0.01);  // the seed prints 212.55
  EXPECT_NEAR(100 * a.compute_share, 1.2, 0.05);
  EXPECT_NEAR(100 * a.h2d_share, 9.6, 0.05);
  EXPECT_NEAR(100 * a.ssd_share, 89.3, 0.05);
  EXPECT_NEAR(a.h2d_exposed_ms, 17.87, 0.005);
  EXPECT_NEAR(a.ssd_exposed_ms, 187.34, 0.005);
  EXPECT_NEAR(a.speedup, 1.12, 0.005);
  EXPECT_EQ(a.prefetch_ssd, 78);
  EXPECT_EQ(a.prefetch_h2d, 9);
}

TEST(Overlap, ComputeBoundLayerNeedsOneLayerOfPrefetch) {
  const OverlapAnalysis a = AnalyzeOverlap(10, 2, 5);
  EXPECT_STREQ(a.bottleneck, "compute");
  EXPECT_DOUBLE_EQ(a.ideal_ms, 10);
  EXPECT_DOUBLE_EQ(a.speedup, 1.7);
  EXPECT_EQ(a.prefetch_ssd, 1);
  EXPECT_EQ(a.prefetch_h2d, 1);
}

TEST(SampleStats, MeanMinMaxAndPopulationStd) {
  const SampleStats s = Summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.n, 8);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.min, 2);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_DOUBLE_EQ(s.std, 2);
  const SampleStats empty = Summarize({});
  EXPECT_EQ(empty.n, 0);
  EXPECT_EQ(empty.mean, 0);
}

}  // namespace
}  // namespace strata
