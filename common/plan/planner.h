// The planner: splits a model's layers over the workers of a cluster (contiguous ranges in
// pipeline order, balanced for workers of different memory and speed), homes each layer in
// its bytes under each worker's budgets (placement.h), and predicts prefill and decode times
// per worker, per stage and end to end. The coordinator plans once; a worker runs its range
// with the placement it is sent. Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/plan/cost_model.h"
#include "common/plan/estimate.h"
#include "common/plan/placement.h"

namespace strata {

// Which phase's pace the split balances first (then the other phase's, then the latency).
enum class Objective : uint8_t { kDecode, kPrefill };
std::string_view ObjectiveName(Objective objective);  // "decode", "prefill"
std::optional<Objective> ParseObjective(std::string_view name);

struct PlanOptions {
  Objective objective = Objective::kDecode;
  // Applied to every worker: forced tier, prefetch distances (layer counts are per worker,
  // so the planner refuses them here).
  PlacementOverrides overrides;
};

struct WorkerPlan {
  std::string name;
  int32_t first_layer = 0;  // the worker runs layers [first_layer, first_layer + layers)
  Placement placement;
  PhaseEstimate prefill;
  PhaseEstimate decode;

  int32_t layers() const { return placement.layers; }
  const PhaseEstimate& phase(Phase p) const { return p == Phase::kPrefill ? prefill : decode; }
};

// One phase end to end.
struct PhaseTotals {
  int32_t tokens_per_pass = 0;  // the prefill chunk, or the decode batch
  double latency_ms = 0;        // one pass through every worker and hop in turn
  double pace_ms = 0;           // the slowest worker pass or hop
  size_t pace_worker = 0;       // who sets the pace (the sender, for a hop)
  Stage pace_stage = Stage::kCompute;
  // Passes one at a time (one sequence: a token waits for the previous one).
  double tokens_per_s_single = 0;
  // One pass in flight per worker (as many sequences or chunks as workers).
  double tokens_per_s_pipelined = 0;
};

struct ClusterPlan {
  PlanOptions options;
  std::vector<WorkerPlan> workers;  // in pipeline order
  PhaseTotals prefill;
  PhaseTotals decode;

  const PhaseTotals& phase(Phase p) const { return p == Phase::kPrefill ? prefill : decode; }
};

// Plans `cluster`. kInvalidArgument for bad inputs (see ValidateCluster) or options;
// kResourceExhausted, naming the worker and the memory, when the layers do not fit.
StatusOr<ClusterPlan> PlanCluster(const ClusterSpec& cluster, const PlanOptions& options);

}  // namespace strata
