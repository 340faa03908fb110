// The text tables `strata plan` prints: one plan (workers, tiers, memory, per-phase stage
// times, end-to-end rates) or a what-if sweep over cluster sizes. Thread-safety: pure.
#pragma once

#include <string>
#include <vector>

#include "common/plan/planner.h"

namespace strata::cli {

std::string PlanText(const ClusterSpec& cluster, const ClusterPlan& plan);

// One cluster size of a what-if sweep: its plan, or why it has none.
struct WhatIfRow {
  int32_t nodes = 0;
  ClusterSpec cluster;
  StatusOr<ClusterPlan> plan = Status(StatusCode::kInternal, "not planned");
};

std::string WhatIfText(const std::vector<WhatIfRow>& rows);

}  // namespace strata::cli
