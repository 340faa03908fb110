// The planner on whole clusters: heterogeneous splits are optimal (brute force over every
// split), budgets hold, tiers go GPU -> pinned -> SSD and are as resident as the budgets
// allow, end-to-end totals add up, and bad or impossible inputs are errors that say why.
#include <functional>
#include <random>
#include <tuple>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/plan/planner.h"
#include "tests/unit/plan/plan_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::kGiB;
using testing::SeedCluster;
using testing::SeedWorker;

// Three unlike workers and a 12-layer model with ends, KV cache and a link.
ClusterSpec Heterogeneous() {
  ClusterSpec c = SeedCluster(0, 12);
  c.model.first_end_bytes = 1 * kGiB;
  c.model.last_end_bytes = kGiB / 2;
  c.model.activation_bytes_per_token = 32768;
  c.model.kv_bytes_per_token_per_layer = 8192;
  c.workload.kv_tokens = 16384;
  c.link = LinkSpec{1.25, 0.05};
  c.workers.push_back(SeedWorker(6 * kGiB, 4 * kGiB));   // small memory
  c.workers.push_back(SeedWorker(12 * kGiB, 8 * kGiB));  // big GPU, slow compute and SSD
  c.workers.back().decode_ms = 4.0;
  c.workers.back().prefill_ms = 300;
  c.workers.back().ssd_gbps = 2.0;
  c.workers.push_back(SeedWorker(4 * kGiB, 16 * kGiB));  // fast copies, mostly pinned
  c.workers.back().h2d_gbps = 55;
  return c;
}

struct Best {
  double pace = 1e300;            // the balanced phase's largest pass
  double other_pace = 1e300;      // the other phase's largest pass
  double sum = 1e300;             // the balanced phase's latency

  bool operator<(const Best& o) const {
    return std::tie(pace, other_pace, sum) < std::tie(o.pace, o.other_pace, o.sum);
  }
};

// Every split of the layers, each worker's pass from FitLayers and EstimatePhase.
Best BruteForce(const ClusterSpec& c, const PlanOptions& options, Phase phase) {
  Best best;
  std::vector<int32_t> split;
  std::function<void(int32_t)> visit = [&](int32_t left) {
    if (split.size() + 1 == c.workers.size()) {
      split.push_back(left);
      const Phase other = phase == Phase::kDecode ? Phase::kPrefill : Phase::kDecode;
      Best b{0, 0, 0};
      bool fits = true;
      for (size_t w = 0; w < c.workers.size() && fits; ++w) {
        StatusOr<Residency> r =
            FitLayers(c, w, split[w], {options.max_prefetch, options.force_tier});
        fits = r.ok();
        if (!fits) break;
        const double t = EstimatePhase(c, w, *r, phase).pipelined_ms;
        b.pace = std::max(b.pace, t);
        b.other_pace = std::max(b.other_pace, EstimatePhase(c, w, *r, other).pipelined_ms);
        b.sum += t;
      }
      if (fits) best = std::min(best, b);
      split.pop_back();
      return;
    }
    const int32_t others = static_cast<int32_t>(c.workers.size() - split.size() - 1);
    for (int32_t k = 1; k <= left - others; ++k) {
      split.push_back(k);
      visit(left - k);
      split.pop_back();
    }
  };
  visit(c.model.layers);
  return best;
}

// Memory recomputed from the plan's tiers and slots, against the budgets; slot counts as
// the executor sizes them; no layer could move to a faster tier.
void ExpectWithinBudgetsAndMostResident(const ClusterSpec& c, const ClusterPlan& plan) {
  int32_t next_layer = 0;
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    SCOPED_TRACE("worker " + std::to_string(w));
    const WorkerPlan& p = plan.workers[w];
    const Residency& r = p.residency;
    EXPECT_EQ(p.first_layer, next_layer);
    next_layer += p.layers();
    const size_t b = c.model.layer_bytes;
    const size_t slot = (b + 4095) / 4096 * 4096;
    const int32_t streamed = r.pinned_layers + r.ssd_layers;
    EXPECT_EQ(r.gpu_slots, streamed == 0 ? 0 : std::min(streamed, r.prefetch_h2d + 1));
    EXPECT_EQ(r.pinned_slots, r.ssd_layers == 0 ? 0 : std::min(r.ssd_layers, r.prefetch_ssd + 1));
    size_t other = c.model.kv_bytes_per_token_per_layer * c.workload.kv_tokens * p.layers();
    if (w == 0) other += c.model.first_end_bytes;
    if (w + 1 == plan.workers.size()) other += c.model.last_end_bytes;
    const size_t gpu = r.gpu_layers * b + r.gpu_slots * slot + other;
    const size_t pinned = r.pinned_layers * b + r.pinned_slots * slot;
    EXPECT_EQ(gpu, r.gpu_used);
    EXPECT_EQ(pinned, r.pinned_used);
    EXPECT_LE(gpu, c.workers[w].gpu_mem);
    EXPECT_LE(pinned, c.workers[w].pinned_mem);
    // One more GPU layer (with the slots the rest would still need) would not fit.
    if (streamed > 0) {
      const int32_t rest = streamed - 1;
      const size_t more = (r.gpu_layers + 1) * b +
                          (rest == 0 ? 0 : std::min(rest, r.prefetch_h2d + 1)) * slot + other;
      EXPECT_GT(more, c.workers[w].gpu_mem);
    }
    if (r.ssd_layers > 0) {
      const int32_t rest = r.ssd_layers - 1;
      const size_t more =
          (r.pinned_layers + 1) * b + (rest == 0 ? 0 : std::min(rest, r.prefetch_ssd + 1)) * slot;
      EXPECT_GT(more, c.workers[w].pinned_mem);
    }
    // GPU, then pinned, then SSD.
    const std::vector<Tier> tiers = p.tiers();
    ASSERT_EQ(tiers.size(), static_cast<size_t>(p.layers()));
    EXPECT_TRUE(std::is_sorted(tiers.begin(), tiers.end()));
  }
  EXPECT_EQ(next_layer, c.model.layers);
}

TEST(PlanCluster, HeterogeneousSplitIsOptimalForEitherObjective) {
  const ClusterSpec c = Heterogeneous();
  for (Objective objective : {Objective::kDecode, Objective::kPrefill}) {
    PlanOptions options;
    options.objective = objective;
    StatusOr<ClusterPlan> plan = PlanCluster(c, options);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    const Phase phase = objective == Objective::kDecode ? Phase::kDecode : Phase::kPrefill;
    const Best best = BruteForce(c, options, phase);
    const Phase other = phase == Phase::kDecode ? Phase::kPrefill : Phase::kDecode;
    double pace = 0, other_pace = 0, sum = 0;
    for (const WorkerPlan& p : plan->workers) {
      pace = std::max(pace, p.phase(phase).pipelined_ms);
      other_pace = std::max(other_pace, p.phase(other).pipelined_ms);
      sum += p.phase(phase).pipelined_ms;
    }
    EXPECT_DOUBLE_EQ(pace, best.pace);
    EXPECT_DOUBLE_EQ(other_pace, best.other_pace);
    EXPECT_DOUBLE_EQ(sum, best.sum);
    ExpectWithinBudgetsAndMostResident(c, *plan);
  }
}

TEST(PlanCluster, RandomClustersStayWithinBudgetsAndMatchBruteForce) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 60; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    ClusterSpec c = SeedCluster(0, 4 + static_cast<int32_t>(rng() % 9));
    c.model.layer_bytes = kGiB / 4 + rng() % (kGiB / 2);
    c.model.first_end_bytes = rng() % kGiB;
    c.model.last_end_bytes = rng() % kGiB;
    const size_t workers = 1 + rng() % 3;
    for (size_t w = 0; w < workers; ++w) {
      WorkerSpec worker = SeedWorker(kGiB * (2 + rng() % 8), kGiB * (rng() % 8));
      worker.ssd_gbps = 1 + rng() % 7;
      worker.h2d_gbps = 10 + rng() % 50;
      worker.decode_ms = 0.5 + rng() % 5;
      worker.prefill_ms = 50 + rng() % 200;
      c.workers.push_back(worker);
    }
    PlanOptions options;
    options.max_prefetch = 1 + static_cast<int32_t>(rng() % 4);
    StatusOr<ClusterPlan> plan = PlanCluster(c, options);
    const Best best = BruteForce(c, options, Phase::kDecode);
    if (!plan.ok()) {
      EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
      EXPECT_EQ(best.pace, 1e300) << plan.status().message();
      continue;
    }
    EXPECT_DOUBLE_EQ(plan->decode.pace_ms, best.pace);
    EXPECT_DOUBLE_EQ(plan->prefill.pace_ms, best.other_pace);
    ExpectWithinBudgetsAndMostResident(c, *plan);
  }
}

TEST(PlanCluster, TotalsAddWorkersAndHops) {
  const ClusterSpec c = Heterogeneous();
  StatusOr<ClusterPlan> plan = PlanCluster(c, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (Phase phase : {Phase::kPrefill, Phase::kDecode}) {
    const PhaseTotals& t = plan->phase(phase);
    const double tokens = phase == Phase::kPrefill ? 2048 : 1;
    const double hop = 0.05 + tokens * 32768 / 1.25e6;
    double latency = 0, pace = 0;
    for (size_t w = 0; w < 3; ++w) {
      const PhaseEstimate& e = plan->workers[w].phase(phase);
      EXPECT_NEAR(e.hop_ms, w < 2 ? hop : 0.0, 1e-9);
      latency += e.pipelined_ms + e.hop_ms;
      pace = std::max({pace, e.pipelined_ms, e.hop_ms});
      EXPECT_GE(e.serial_ms, e.pipelined_ms);
      EXPECT_NEAR(e.serial_ms, e.ssd_ms + e.h2d_ms + e.compute_ms, 1e-6);
    }
    EXPECT_NEAR(t.latency_ms, latency, 1e-9);
    EXPECT_DOUBLE_EQ(t.pace_ms, pace);
    EXPECT_NEAR(t.tokens_per_s_single, tokens * 1e3 / latency, 1e-9);
    EXPECT_NEAR(t.tokens_per_s_pipelined, std::min(3 * tokens / latency, tokens / pace) * 1e3,
                1e-9);
  }
}

TEST(PlanCluster, EverythingOnTheGpuNeedsNoSlots) {
  ClusterSpec c = SeedCluster(2, 8);
  StatusOr<ClusterPlan> plan = PlanCluster(c, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const WorkerPlan& p : plan->workers) {
    EXPECT_EQ(p.layers(), 4);
    EXPECT_EQ(p.residency.gpu_layers, 4);
    EXPECT_EQ(p.residency.gpu_slots + p.residency.pinned_slots, 0);
    EXPECT_EQ(p.residency.prefetch_ssd + p.residency.prefetch_h2d, 0);
    EXPECT_EQ(p.decode.bottleneck, Stage::kCompute);
    EXPECT_DOUBLE_EQ(p.decode.pipelined_ms, 4 * 2.45);
  }
}

TEST(PlanCluster, ForcedTiers) {
  ClusterSpec c = SeedCluster(1, 10);
  PlanOptions options;
  options.force_tier = Tier::kPinned;
  StatusOr<ClusterPlan> plan = PlanCluster(c, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->workers[0].residency.pinned_layers, 10);
  EXPECT_EQ(plan->workers[0].decode.bottleneck, Stage::kH2d);

  options.force_tier = Tier::kGpu;
  c.model.layers = 30;  // 25 GB: more than the GPU's 16 GiB
  plan = PlanCluster(c, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("GPU-resident layers"));
}

TEST(PlanCluster, BadInputsAreInvalidArgumentsNamingTheField) {
  const auto error = [](const ClusterSpec& c, PlanOptions options = {}) {
    StatusOr<ClusterPlan> plan = PlanCluster(c, options);
    EXPECT_FALSE(plan.ok());
    EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
    return plan.status().message();
  };
  ClusterSpec c = SeedCluster(2, 8);
  c.workers[1].ssd_gbps = 0;
  EXPECT_THAT(error(c), HasSubstr("worker 1 (seed): ssd_gbps must be a positive"));
  c = SeedCluster(2, 8);
  c.workers[0].h2d_gbps = -3;
  EXPECT_THAT(error(c), HasSubstr("h2d_gbps must be a positive copy rate"));
  c = SeedCluster(1, 8);
  c.workers[0].decode_ms = std::nan("");
  EXPECT_THAT(error(c), HasSubstr("decode_ms"));
  EXPECT_THAT(error(SeedCluster(9, 8)), HasSubstr("9 workers for 8 layers"));
  EXPECT_THAT(error(SeedCluster(0, 8)), HasSubstr("no workers"));
  c = SeedCluster(1, 8);
  c.model.layer_bytes = 0;
  EXPECT_THAT(error(c), HasSubstr("layer_bytes"));
  c = SeedCluster(1, 8);
  c.link = LinkSpec{0, 1};
  EXPECT_THAT(error(c), HasSubstr("link: gbps"));
  PlanOptions options;
  options.max_prefetch = 0;
  EXPECT_THAT(error(SeedCluster(1, 8), options), HasSubstr("max prefetch"));
}

TEST(PlanCluster, ModelThatDoesNotFitSaysWhereAndWhat) {
  // The GPU cannot hold even the two staging slots of one streamed layer.
  ClusterSpec c = SeedCluster(2, 8);
  c.workers[1].gpu_mem = kGiB / 2;
  StatusOr<ClusterPlan> plan = PlanCluster(c, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("worker 1 (seed)"));
  EXPECT_THAT(plan.status().message(), HasSubstr("GPU staging slots"));
  EXPECT_THAT(plan.status().message(), HasSubstr("more GPU memory"));

  // Pinned memory too small for the SSD staging slots.
  c = SeedCluster(1, 80);
  c.workers[0].pinned_mem = kGiB / 2;
  plan = PlanCluster(c, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("pinned staging slots"));

  // Every worker holds some layers, but the KV cache grows with each: not all 80 fit.
  c = SeedCluster(2, 80);
  c.model.kv_bytes_per_token_per_layer = 8192;
  c.workload.kv_tokens = 65536;  // 512 MiB per layer
  plan = PlanCluster(c, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("do not fit on 2 workers"));
}

}  // namespace
}  // namespace strata
