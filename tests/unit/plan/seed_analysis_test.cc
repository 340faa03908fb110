// The planner reproduces the seed analysis (seed-measurements.md): one RTX 5080, every
// layer of Llama 3.1 70B streamed from SSD: prefetch distances, serial and pipelined
// per-layer times and the ideal speed-ups, for prefill (2048 tokens) and decode.
#include <gtest/gtest.h>

#include "common/plan/planner.h"
#include "tests/unit/plan/plan_test_util.h"

namespace strata {
namespace {

using testing::SeedCluster;

// The seed's figures are rounded to 2 decimals; bytes / GB/s reproduces its SSD time to
// 0.13 ms (189.66 vs 189.79 ms).
constexpr double kMs = 0.2;

ClusterPlan AllSsdPlan() {
  PlanOptions options;
  options.force_tier = Tier::kSsd;
  StatusOr<ClusterPlan> plan = PlanCluster(SeedCluster(1), options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return *plan;
}

TEST(SeedAnalysis, StageTimesPerLayer) {
  const ClusterSpec c = SeedCluster(1);
  const LayerStages prefill = StagesFor(c.workers[0], c.model, c.workload, Tier::kSsd,
                                        Phase::kPrefill);
  EXPECT_NEAR(prefill.compute_ms, 172.92, 1e-9);
  EXPECT_NEAR(prefill.h2d_ms, 20.32, 0.01);
  EXPECT_NEAR(prefill.ssd_ms, 189.79, kMs);
  EXPECT_NEAR(prefill.serial_ms(), 383.02, kMs);
  EXPECT_NEAR(prefill.pipelined_ms(), 189.79, kMs);
  EXPECT_EQ(prefill.bottleneck(), Stage::kSsd);
  EXPECT_NEAR(prefill.serial_ms() / prefill.pipelined_ms(), 2.02, 0.005);

  const LayerStages decode = StagesFor(c.workers[0], c.model, c.workload, Tier::kSsd,
                                       Phase::kDecode);
  EXPECT_NEAR(decode.serial_ms(), 212.55, kMs);
  EXPECT_NEAR(decode.pipelined_ms(), 189.79, kMs);
  EXPECT_NEAR(decode.serial_ms() / decode.pipelined_ms(), 1.12, 0.005);
  // Compute hides neither transfer: it waits 17.87 ms for the copy, 187.34 for the read.
  EXPECT_NEAR(decode.h2d_ms - decode.compute_ms, 17.87, 0.01);
  EXPECT_NEAR(decode.ssd_ms - decode.compute_ms, 187.34, kMs);
}

TEST(SeedAnalysis, PlanForcedToSsdHasTheSeedDistancesAndSpeedUps) {
  const ClusterPlan plan = AllSsdPlan();
  ASSERT_EQ(plan.workers.size(), 1u);
  const WorkerPlan& w = plan.workers[0];
  EXPECT_EQ(w.residency.ssd_layers, 80);
  EXPECT_EQ(w.residency.gpu_layers + w.residency.pinned_layers, 0);

  EXPECT_EQ(w.prefill.prefetch_ssd.ideal, 2);
  EXPECT_EQ(w.prefill.prefetch_h2d.ideal, 1);
  EXPECT_EQ(w.decode.prefetch_ssd.ideal, 78);  // "almost the whole 80-layer model"
  EXPECT_EQ(w.decode.prefetch_h2d.ideal, 9);
  // Capped by the executor's distance (max prefetch 4) and the streamed layers.
  EXPECT_EQ(w.prefill.prefetch_ssd.capped, 2);
  EXPECT_EQ(w.prefill.prefetch_h2d.capped, 1);
  EXPECT_EQ(w.decode.prefetch_ssd.capped, 4);
  EXPECT_EQ(w.decode.prefetch_h2d.capped, 4);
  EXPECT_EQ(w.residency.pinned_slots, 5);
  EXPECT_EQ(w.residency.gpu_slots, 5);

  EXPECT_NEAR(w.prefill.serial_ms / 80, 383.02, kMs);
  EXPECT_NEAR(w.prefill.pipelined_ms / 80, 189.79, kMs);
  EXPECT_NEAR(w.prefill.serial_ms / w.prefill.pipelined_ms, 2.02, 0.005);
  EXPECT_NEAR(w.decode.serial_ms / 80, 212.55, kMs);
  EXPECT_NEAR(w.decode.pipelined_ms / 80, 189.79, kMs);
  EXPECT_NEAR(w.decode.serial_ms / w.decode.pipelined_ms, 1.12, 0.005);
  EXPECT_EQ(w.prefill.bottleneck, Stage::kSsd);
  EXPECT_EQ(w.decode.bottleneck, Stage::kSsd);

  // One worker, no link: latency and pace are its pass.
  EXPECT_DOUBLE_EQ(plan.decode.latency_ms, w.decode.pipelined_ms);
  EXPECT_DOUBLE_EQ(plan.decode.pace_ms, w.decode.pipelined_ms);
  // 1 token (2048) per 80 layers of 189.79 ms, to the 0.07% the SSD time is off by.
  EXPECT_NEAR(plan.decode.tokens_per_s_single, 1e3 / (80 * 189.79), 1e-3 * 1e3 / (80 * 189.79));
  EXPECT_NEAR(plan.prefill.tokens_per_s_single, 2048e3 / (80 * 189.79), 0.2);
}

TEST(SeedAnalysis, LargerMaxPrefetchLetsTheDecodeDistancesThrough) {
  PlanOptions options;
  options.force_tier = Tier::kSsd;
  options.max_prefetch = 100;
  ClusterSpec cluster = SeedCluster(1);
  cluster.workers[0].pinned_mem = 80 * testing::kGiB;  // 79 slots of 0.844 GB
  StatusOr<ClusterPlan> plan = PlanCluster(cluster, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const WorkerPlan& w = plan->workers[0];
  EXPECT_EQ(w.residency.prefetch_ssd, 78);
  EXPECT_EQ(w.residency.pinned_slots, 79);
  EXPECT_EQ(w.decode.prefetch_ssd.capped, 78);
  EXPECT_EQ(w.decode.prefetch_h2d.capped, 9);
}

}  // namespace
}  // namespace strata
