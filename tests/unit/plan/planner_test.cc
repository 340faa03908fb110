// The planner on whole clusters: heterogeneous splits are optimal (brute force over every
// split), each worker's placement holds its budgets and is as resident as they allow, tiers
// go GPU -> pinned -> SSD, end-to-end totals add up, and bad or impossible inputs are errors
// that say why.
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/bench/synthetic_model.h"
#include "common/plan/model_spec.h"
#include "common/plan/planner.h"
#include "common/plan/presets.h"
#include "tests/unit/plan/plan_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::kGiB;
using testing::kMiB;
using testing::PageRounded;
using testing::SeedCluster;
using testing::SeedWorker;

// Three unlike workers and a 12-layer model with ends, KV cache, scratch, split points and a
// link.
ClusterSpec Heterogeneous() {
  ClusterSpec c = SeedCluster(0, 12);
  c.model.layer_split_points = {64 * kMiB, 200 * kMiB, 500 * kMiB, 700 * kMiB};
  c.model.first_end_bytes = 1 * kGiB;
  c.model.last_end_bytes = kGiB / 2;
  c.model.activation_bytes_per_token = 32768;
  c.model.kv_bytes_per_token_per_layer = 8192;
  c.model.scratch_bytes_per_token = 65536;
  c.model.scratch_fixed_bytes = 64 * kMiB;
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

// Every split of the layers, each worker's pass from PlaceStage and EstimatePhase.
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
        StatusOr<Placement> p = PlaceStage(StageShapeOf(c, w, split[w]), c.workers[w],
                                           c.workload, options.overrides);
        fits = p.ok();
        if (!fits) break;
        const double t = EstimatePhase(c, w, *p, phase).pipelined_ms;
        b.pace = std::max(b.pace, t);
        b.other_pace = std::max(b.other_pace, EstimatePhase(c, w, *p, other).pipelined_ms);
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

// Memory recomputed from each worker's placement (placement.h says what each budget
// covers), against the budgets; slot counts as the rule chooses them; no layer could move
// to a faster tier and the pinned budget is used up before the SSD is read.
void ExpectWithinBudgetsAndMostResident(const ClusterSpec& c, const ClusterPlan& plan) {
  const PlacementOverrides& o = plan.options.overrides;
  int32_t next_layer = 0;
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    SCOPED_TRACE("worker " + std::to_string(w));
    const WorkerPlan& wp = plan.workers[w];
    const Placement& p = wp.placement;
    const WorkerSpec& budgets = c.workers[w];
    EXPECT_EQ(wp.first_layer, next_layer);
    next_layer += wp.layers();
    const size_t b = PageRounded(c.model.layer_bytes);
    EXPECT_EQ(p.layer_bytes, b);
    const int32_t streamed = p.layers - p.gpu_layers;
    EXPECT_EQ(p.gpu_layers + p.pinned_layers + p.ssd_layers(), p.layers);
    EXPECT_GE(p.pinned_layers, 0);
    EXPECT_GE(p.ssd_layers(), 0);
    if (streamed == 0) {
      EXPECT_EQ(p.gpu_slots, 0);
    } else if (o.prefetch_h2d >= 0) {
      EXPECT_EQ(p.gpu_slots, std::min(streamed, o.prefetch_h2d + 1));
    } else {
      EXPECT_GE(p.gpu_slots, 1);
      EXPECT_LE(p.gpu_slots, std::min(streamed, 2));
    }
    const bool embeds = w == 0 && c.model.first_end_bytes > 0;
    const bool has_head = w + 1 == plan.workers.size();
    if (p.embed_on_gpu) {
      EXPECT_TRUE(embeds);
    }
    const size_t runtime =
        c.model.kv_bytes_per_token_per_layer * static_cast<size_t>(c.workload.kv_tokens) *
            static_cast<size_t>(p.layers) +
        c.model.scratch_bytes_per_token * static_cast<size_t>(c.workload.prefill_chunk_tokens) +
        c.model.scratch_fixed_bytes;
    const size_t head = has_head ? c.model.last_end_bytes : 0;
    const size_t gpu_fixed = runtime + head + (p.embed_on_gpu ? c.model.first_end_bytes : 0);
    // The first gpu_prefix_layers streamed layers keep a split point's bytes on the GPU; the
    // slots hold the rest of a layer when all do.
    const size_t prefix = p.gpu_prefix_bytes;
    const int32_t prefixed = p.gpu_prefix_layers;
    EXPECT_TRUE(prefixed == 0 || std::count(c.model.layer_split_points.begin(),
                                            c.model.layer_split_points.end(), prefix) == 1);
    const size_t slot = b - (prefixed > 0 && prefixed == streamed ? prefix : 0);
    const size_t gpu = static_cast<size_t>(p.gpu_layers) * b +
                       static_cast<size_t>(prefixed) * prefix +
                       static_cast<size_t>(p.gpu_slots) * slot + gpu_fixed;
    const size_t gather = embeds && !p.embed_on_gpu
                              ? c.model.activation_bytes_per_token *
                                    static_cast<size_t>(c.workload.prefill_chunk_tokens)
                              : 0;
    const auto off_gpu = [&](int32_t from, int32_t to) {  // streamed layers [from, to)
      return static_cast<size_t>(to - from) * b -
             static_cast<size_t>(std::max(0, std::min(to, prefixed) - from)) * prefix;
    };
    const size_t pinned = off_gpu(0, p.pinned_layers) + p.spread_pinned_bytes +
                          static_cast<size_t>(p.staging_chunks) * kStagingChunkBytes + gather;
    EXPECT_EQ(gpu, p.gpu.total());
    EXPECT_EQ(pinned, p.pinned.total());
    EXPECT_LE(gpu, budgets.gpu_mem);
    EXPECT_LE(pinned, budgets.pinned_mem);
    if (p.ssd_layers() > 0) {
      EXPECT_GE(p.staging_chunks, 1);
    }
    if (!o.force_tier && streamed > 0) {
      // One more GPU layer (with the slots the rest would still need) would not fit.
      const size_t more = gpu_fixed + static_cast<size_t>(p.gpu_layers + 1 +
                                                          std::min(streamed - 1, p.gpu_slots)) * b;
      EXPECT_GT(more, budgets.gpu_mem);
    }
    if (!o.force_tier && p.ssd_layers() > 0) {
      // Whole pinned layers or spread prefixes, not both; what the ring leaves is pinned.
      EXPECT_EQ(p.pinned_layers, 0);
      const size_t cap =
          off_gpu(p.pinned_layers, streamed) - static_cast<size_t>(p.ssd_layers()) * 4096;
      EXPECT_TRUE(p.spread_pinned_bytes == cap || pinned + 4096 > budgets.pinned_mem)
          << "spread " << p.spread_pinned_bytes << " of " << budgets.pinned_mem;
    }
    if (o.force_tier == Tier::kSsd) {
      EXPECT_EQ(p.ssd_layers(), p.layers);
      EXPECT_EQ(p.spread_pinned_bytes, 0u);
    }
    // GPU, then pinned, then SSD.
    const std::vector<LayerHome> homes = p.homes();
    ASSERT_EQ(homes.size(), static_cast<size_t>(wp.layers()));
    const auto by_tier = [](const LayerHome& a, const LayerHome& z) { return a.tier < z.tier; };
    EXPECT_TRUE(std::is_sorted(homes.begin(), homes.end(), by_tier));
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
  int planned = 0;
  for (int trial = 0; trial < 60; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    ClusterSpec c = SeedCluster(0, 4 + static_cast<int32_t>(rng() % 9));
    c.model.layer_bytes = kGiB / 4 + rng() % (kGiB / 2);
    c.model.first_end_bytes = rng() % kGiB;
    c.model.last_end_bytes = rng() % kGiB;
    c.model.activation_bytes_per_token = 4096 * (rng() % 16);
    c.model.kv_bytes_per_token_per_layer = 1024 * (rng() % 8);
    c.model.scratch_bytes_per_token = 1024 * (rng() % 64);
    c.model.scratch_fixed_bytes = kMiB * (rng() % 256);
    c.workload.kv_tokens = static_cast<int64_t>(rng() % 8192);
    if (rng() % 2 == 0) {  // cut like a layer's tensors: at a few ascending pages
      for (size_t at = 4096 * (1 + rng() % 8192); at < c.model.layer_bytes;
           at += 4096 * (1 + rng() % 32768)) {
        c.model.layer_split_points.push_back(at);
      }
    }
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
    if (rng() % 3 == 0) options.overrides.prefetch_h2d = static_cast<int32_t>(rng() % 4);
    if (rng() % 3 == 0) options.overrides.prefetch_ssd = static_cast<int32_t>(rng() % 8);
    if (rng() % 6 == 0) options.overrides.force_tier = Tier::kSsd;
    StatusOr<ClusterPlan> plan = PlanCluster(c, options);
    const Best best = BruteForce(c, options, Phase::kDecode);
    if (!plan.ok()) {
      EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
      EXPECT_EQ(best.pace, 1e300) << plan.status().message();
      continue;
    }
    ++planned;
    EXPECT_DOUBLE_EQ(plan->decode.pace_ms, best.pace);
    EXPECT_DOUBLE_EQ(plan->prefill.pace_ms, best.other_pace);
    ExpectWithinBudgetsAndMostResident(c, *plan);
  }
  EXPECT_GT(planned, 30);  // most of them fit: the test is not vacuous
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
    EXPECT_EQ(p.placement.gpu_layers, 4);
    EXPECT_EQ(p.placement.gpu_slots, 0);
    EXPECT_EQ(p.placement.gpu.staging, 0u);
    // Nothing is read per pass; one ring chunk loads the layers at start-up.
    EXPECT_EQ(p.placement.ssd_bytes_per_pass(), 0u);
    EXPECT_EQ(p.placement.staging_chunks, 1);
    EXPECT_EQ(p.placement.pinned.layers, 0u);
    EXPECT_EQ(p.decode.prefetch_ssd.ideal + p.decode.prefetch_h2d.ideal, 0);
    EXPECT_EQ(p.decode.bottleneck, Stage::kCompute);
    EXPECT_DOUBLE_EQ(p.decode.pipelined_ms, 4 * 2.45);
  }
}

TEST(PlanCluster, ForcedTiers) {
  ClusterSpec c = SeedCluster(1, 10);
  PlanOptions options;
  options.overrides.force_tier = Tier::kPinned;
  StatusOr<ClusterPlan> plan = PlanCluster(c, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->workers[0].placement.pinned_layers, 10);
  EXPECT_EQ(plan->workers[0].decode.bottleneck, Stage::kH2d);

  // Every layer of both workers read from the SSD, nothing spread over pinned memory.
  c = SeedCluster(2, 10);
  options.overrides.force_tier = Tier::kSsd;
  plan = PlanCluster(c, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  for (const WorkerPlan& p : plan->workers) {
    EXPECT_EQ(p.placement.ssd_layers(), p.layers());
    EXPECT_EQ(p.placement.spread_pinned_bytes, 0u);
    EXPECT_EQ(p.placement.ssd_bytes_per_pass(), p.layers() * PageRounded(844'000'000));
    EXPECT_EQ(p.decode.bottleneck, Stage::kSsd);
  }
  ExpectWithinBudgetsAndMostResident(c, *plan);

  options.overrides.force_tier = Tier::kGpu;
  c = SeedCluster(1, 30);  // 25 GB: more than the GPU's 16 GiB
  plan = PlanCluster(c, options);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("do not fit on 1 worker"));
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
  c.model.scratch_fixed_bytes = size_t{1} << 52;
  EXPECT_THAT(error(c), HasSubstr("scratch_fixed_bytes"));
  c = SeedCluster(1, 8);
  c.model.layer_split_points = {8192, 8192};
  EXPECT_THAT(error(c), HasSubstr("model: layer_split_points: split point 1 (8192)"));
  c = SeedCluster(1, 8);
  c.link = LinkSpec{0, 1};
  EXPECT_THAT(error(c), HasSubstr("link: gbps"));
  // Layer counts are per worker: the planner chooses them.
  PlanOptions options;
  options.overrides.gpu_layers = 2;
  EXPECT_THAT(error(SeedCluster(1, 8), options), HasSubstr("per worker"));
  options = {};
  options.overrides.pinned_layers = 0;
  EXPECT_THAT(error(SeedCluster(1, 8), options), HasSubstr("per worker"));
  options = {};
  options.overrides.prefetch_h2d = -2;
  EXPECT_THAT(error(SeedCluster(1, 8), options), HasSubstr("must be >= 0"));
  options = {};
  options.overrides.prefetch_ssd = 5000;
  EXPECT_THAT(error(SeedCluster(1, 8), options), HasSubstr("above 1024"));
}

TEST(PlanCluster, ModelSpecCutsLayersWhereThePackWriterDoes) {
  const ModelConfig config = *SyntheticConfig("llama-3.1-70b", 80, 128256);
  // bf16: 8 tensors after the first; fp8: their 7 projections' scales too.
  for (const auto& [dtype, cuts] :
       {std::pair{PackDType::kBF16, 8u}, std::pair{PackDType::kFP8, 15u}}) {
    SCOPED_TRACE(PackDTypeName(dtype));
    const ModelSpec m = ModelSpecFor(config, dtype);
    const PackExtent layer = PlanPack(config, dtype).extents[1];
    EXPECT_EQ(m.layer_bytes, layer.bytes);
    const std::vector<uint64_t> points = ExtentSplitPoints(layer);
    EXPECT_EQ(m.layer_split_points, std::vector<size_t>(points.begin(), points.end()));
    EXPECT_EQ(m.layer_split_points.size(), cuts);
    // A registered (or measured) layer size keeps the points below it.
    const ModelSpec registered = WithLayerBytes(m, m.layer_split_points[3] + 1);
    EXPECT_EQ(registered.layer_split_points,
              std::vector<size_t>(points.begin(), points.begin() + 4));
  }
  // The presets: the seed's measured bytes, cut where the writer's layout is below them.
  const ModelSpec seed = Llama31_70B(PackDType::kFP8);
  EXPECT_EQ(seed.layer_bytes, 844'000'000u);
  EXPECT_GE(seed.layer_split_points.size(), 13u);
  EXPECT_TRUE(ValidateSplitPoints(seed.layer_split_points, seed.layer_bytes).ok());
}

TEST(PlanCluster, ModelThatDoesNotFitSaysWhereAndWhat) {
  // The GPU cannot hold even the one staging slot of one streamed layer.
  ClusterSpec c = SeedCluster(2, 8);
  c.workers[1].gpu_mem = kGiB / 2;
  StatusOr<ClusterPlan> plan = PlanCluster(c, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("worker 1 (seed)"));
  EXPECT_THAT(plan.status().message(), HasSubstr("GPU budget must be at least"));
  EXPECT_THAT(plan.status().message(), HasSubstr("one GPU staging slot"));
  EXPECT_THAT(plan.status().message(), HasSubstr("--gpu-mem"));

  // Pinned memory too small for one chunk of the staging ring.
  c = SeedCluster(1, 80);
  c.workers[0].pinned_mem = kMiB;
  plan = PlanCluster(c, PlanOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("pinned budget at least"));
  EXPECT_THAT(plan.status().message(), HasSubstr("one staging chunk"));

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
