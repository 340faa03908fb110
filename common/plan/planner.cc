// PlanCluster (see planner.h): validate, split exactly, home tiers, add up the phases.
#include "common/plan/planner.h"

#include <algorithm>
#include <string>

#include "common/plan/partition.h"

namespace strata {
namespace {

Phase PhaseOf(Objective objective) {
  return objective == Objective::kPrefill ? Phase::kPrefill : Phase::kDecode;
}

StatusOr<Placement> Place(const ClusterSpec& cluster, size_t w, int32_t layers,
                          const PlanOptions& options) {
  StatusOr<Placement> p = PlaceStage(StageShapeOf(cluster, w, layers), cluster.workers[w],
                                     cluster.workload, options.overrides);
  if (!p.ok()) {
    const std::string& name = cluster.workers[w].name;
    return p.status().WithContext("worker " + std::to_string(w) +
                                  (name.empty() ? "" : " (" + name + ")") + " with " +
                                  std::to_string(layers) + " layer" + (layers == 1 ? "" : "s"));
  }
  return p;
}

// Why no split fits: the first worker that cannot hold one layer, or the total capacity
// and what stops the first worker from holding one layer more.
Status ExplainNoFit(const ClusterSpec& cluster, const PlanOptions& options) {
  const int32_t layers = cluster.model.layers;
  const int32_t most = layers - static_cast<int32_t>(cluster.workers.size()) + 1;
  std::string capacity;
  int32_t total = 0;
  Status first_limit;
  for (size_t w = 0; w < cluster.workers.size(); ++w) {
    StatusOr<Placement> one = Place(cluster, w, 1, options);
    if (!one.ok()) {
      return Status(one.status().code(), "the model does not fit: " + one.status().message());
    }
    int32_t fits = 1;  // holding more layers never needs less memory
    Status limit;
    while (fits < most) {
      limit = Place(cluster, w, fits + 1, options).status();
      if (!limit.ok()) break;
      ++fits;
    }
    if (first_limit.ok()) first_limit = limit;
    total += fits;
    capacity += (w == 0 ? "" : ", ") + std::to_string(fits);
  }
  const size_t n = cluster.workers.size();
  return ResourceExhausted("the model's " + std::to_string(layers) + " layers do not fit on " +
                           std::to_string(n) + (n == 1 ? " worker, which holds" : " workers, which hold") +
                           " at most " + capacity + " layers" +
                           (n == 1 ? "" : " (" + std::to_string(total) + ")") + "; " +
                           first_limit.message());
}

PhaseTotals Totals(const ClusterSpec& cluster, const std::vector<WorkerPlan>& workers,
                   Phase phase) {
  PhaseTotals t;
  t.tokens_per_pass = TokensPerPass(cluster.workload, phase);
  for (size_t w = 0; w < workers.size(); ++w) {
    const PhaseEstimate& e = workers[w].phase(phase);
    t.latency_ms += e.pipelined_ms + e.hop_ms;
    if (e.pipelined_ms > t.pace_ms) {
      t.pace_ms = e.pipelined_ms;
      t.pace_worker = w;
      t.pace_stage = e.bottleneck;
    }
    if (e.hop_ms > t.pace_ms) {
      t.pace_ms = e.hop_ms;
      t.pace_worker = w;
      t.pace_stage = Stage::kLink;
    }
  }
  const double tokens = t.tokens_per_pass;
  const double in_flight = static_cast<double>(workers.size());
  t.tokens_per_s_single = tokens * 1e3 / t.latency_ms;
  t.tokens_per_s_pipelined = std::min(in_flight * tokens / t.latency_ms, tokens / t.pace_ms) * 1e3;
  return t;
}

}  // namespace

std::string_view ObjectiveName(Objective objective) {
  return objective == Objective::kPrefill ? "prefill" : "decode";
}

std::optional<Objective> ParseObjective(std::string_view name) {
  if (name == "decode") return Objective::kDecode;
  if (name == "prefill") return Objective::kPrefill;
  return std::nullopt;
}

StatusOr<ClusterPlan> PlanCluster(const ClusterSpec& cluster, const PlanOptions& options) {
  if (options.overrides.gpu_layers >= 0 || options.overrides.pinned_layers >= 0) {
    return InvalidArgument("layer counts are per worker; the planner chooses them");
  }
  STRATA_RETURN_IF_ERROR(ValidateCluster(cluster));
  const Phase objective = PhaseOf(options.objective);
  const Phase other = objective == Phase::kDecode ? Phase::kPrefill : Phase::kDecode;
  const WorkerCost cost = [&](size_t w, int32_t layers) -> std::optional<WorkerCosts> {
    StatusOr<Placement> r = Place(cluster, w, layers, options);
    if (!r.ok()) return std::nullopt;
    return WorkerCosts{EstimatePhase(cluster, w, *r, objective).pipelined_ms,
                       EstimatePhase(cluster, w, *r, other).pipelined_ms};
  };
  const std::optional<std::vector<int32_t>> split =
      PartitionLayers(cluster.workers.size(), cluster.model.layers, cost);
  if (!split) return ExplainNoFit(cluster, options);

  ClusterPlan plan;
  plan.options = options;
  int32_t first = 0;
  for (size_t w = 0; w < split->size(); ++w) {
    WorkerPlan p;
    p.name = cluster.workers[w].name;
    p.first_layer = first;
    STRATA_ASSIGN_OR_RETURN(p.placement, Place(cluster, w, (*split)[w], options));
    p.prefill = EstimatePhase(cluster, w, p.placement, Phase::kPrefill);
    p.decode = EstimatePhase(cluster, w, p.placement, Phase::kDecode);
    first += (*split)[w];
    plan.workers.push_back(std::move(p));
  }
  plan.prefill = Totals(cluster, plan.workers, Phase::kPrefill);
  plan.decode = Totals(cluster, plan.workers, Phase::kDecode);
  return plan;
}

}  // namespace strata
