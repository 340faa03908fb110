// A plan as JSON: what `strata plan --json` prints and what the coordinator can hand to
// its workers (layer range, placement) and to its dashboards (predicted
// times). Times in ms, sizes in bytes. Thread-safety: pure function.
#pragma once

#include <nlohmann/json.hpp>

#include "common/plan/planner.h"

namespace strata {

nlohmann::json PlanToJson(const ClusterSpec& cluster, const ClusterPlan& plan);
// One stage's placement: tiers, spread, GPU prefixes, slots, ring, and each memory by part
// against its budget (`budgets`' gpu_mem and pinned_mem).
nlohmann::json PlacementToJson(const Placement& placement, const WorkerSpec& budgets);

}  // namespace strata
