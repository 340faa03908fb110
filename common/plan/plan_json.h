// A plan as JSON: what `strata plan --json` prints and what the coordinator can hand to
// its workers (layer range, tiers, prefetch distances) and to its dashboards (predicted
// times). Times in ms, sizes in bytes. Thread-safety: pure function.
#pragma once

#include <nlohmann/json.hpp>

#include "common/plan/planner.h"

namespace strata {

nlohmann::json PlanToJson(const ClusterSpec& cluster, const ClusterPlan& plan);

}  // namespace strata
