// The planner reproduces the seed analysis (seed-measurements.md): one RTX 5080, every
// layer of Llama 3.1 70B streamed from SSD: prefetch distances, serial and pipelined
// per-layer times and the ideal speed-ups, for prefill (2048 tokens) and decode.
#include <gtest/gtest.h>

#include "common/plan/planner.h"
#include "tests/unit/plan/plan_test_util.h"

namespace strata {
namespace {

using testing::PageRounded;
using testing::SeedCluster;

// The seed's figures are rounded to 2 decimals; bytes / GB/s reproduces its SSD time to
// 0.13 ms (189.66 vs 189.79 ms).
constexpr double kMs = 0.2;

ClusterPlan AllSsdPlan() {
  PlanOptions options;
  options.overrides.force_tier = Tier::kSsd;
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
  const Placement& p = w.placement;
  // Every layer wholly read from the SSD every pass: nothing resident, nothing spread.
  EXPECT_EQ(p.ssd_layers(), 80);
  EXPECT_EQ(p.gpu_layers + p.pinned_layers, 0);
  EXPECT_EQ(p.spread_pinned_bytes, 0u);
  EXPECT_EQ(p.ssd_bytes_per_pass(), 80 * PageRounded(844'000'000));
  for (const LayerHome& home : p.homes()) {
    EXPECT_EQ(home.tier, Tier::kSsd);
    EXPECT_EQ(home.pinned_bytes, 0u);
  }
  // One or two GPU slots; a ring of 16 MiB chunks, far smaller than a layer.
  EXPECT_GE(p.gpu_slots, 1);
  EXPECT_LE(p.gpu_slots, 2);
  EXPECT_EQ(p.gpu.staging, static_cast<size_t>(p.gpu_slots) * p.layer_bytes);
  EXPECT_GE(p.staging_chunks, 1);
  EXPECT_LE(p.staging_chunks, kMaxStagingChunks);
  EXPECT_EQ(p.pinned.staging, static_cast<size_t>(p.staging_chunks) * kStagingChunkBytes);
  EXPECT_EQ(p.pinned.total(), p.pinned.staging);
  EXPECT_FALSE(p.embed_on_gpu);

  EXPECT_EQ(w.prefill.prefetch_ssd.ideal, 2);
  EXPECT_EQ(w.prefill.prefetch_h2d.ideal, 1);
  EXPECT_EQ(w.decode.prefetch_ssd.ideal, 78);  // "almost the whole 80-layer model"
  EXPECT_EQ(w.decode.prefetch_h2d.ideal, 9);
  // Capped by what the placement holds: the GPU slots beyond the one being computed, and
  // the whole layers the ring holds (none: it is chunks of one layer's read).
  EXPECT_EQ(w.decode.prefetch_h2d.capped, p.gpu_slots - 1);
  EXPECT_EQ(w.prefill.prefetch_h2d.capped, std::min(1, p.gpu_slots - 1));
  EXPECT_EQ(w.decode.prefetch_ssd.capped, 0);
  EXPECT_EQ(w.prefill.prefetch_ssd.capped, 0);

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

TEST(SeedAnalysis, PrefetchOverridesLetTheDecodeDistancesThrough) {
  PlanOptions options;
  options.overrides.force_tier = Tier::kSsd;
  options.overrides.prefetch_ssd = 78;  // a ring of 78 layers' reads (61.3 GiB)
  options.overrides.prefetch_h2d = 9;   // 10 GPU slots (7.9 GiB)
  ClusterSpec cluster = SeedCluster(1);
  cluster.workers[0].pinned_mem = 80 * testing::kGiB;
  StatusOr<ClusterPlan> plan = PlanCluster(cluster, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const WorkerPlan& w = plan->workers[0];
  const size_t layer = PageRounded(844'000'000);
  EXPECT_EQ(w.placement.gpu_slots, 10);
  EXPECT_EQ(w.placement.staging_chunks,
            static_cast<int32_t>((78 * layer + kStagingChunkBytes - 1) / kStagingChunkBytes));
  EXPECT_EQ(w.decode.prefetch_ssd.capped, 78);
  EXPECT_EQ(w.decode.prefetch_h2d.capped, 9);
  EXPECT_EQ(w.prefill.prefetch_ssd.capped, 2);
  EXPECT_EQ(w.prefill.prefetch_h2d.capped, 1);
  // Deeper prefetch does not change the SSD-bound pace.
  EXPECT_NEAR(w.decode.pipelined_ms / 80, 189.79, kMs);

  // Too deep for the budget: the ring alone is more than the pinned memory.
  cluster.workers[0].pinned_mem = 48 * testing::kGiB;
  plan = PlanCluster(cluster, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace strata
