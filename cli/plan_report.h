// The text tables `strata plan` prints (and the placement summary of `generate --stats`): one plan (workers, tiers, memory, per-phase stage
// times, end-to-end rates) or a what-if sweep over cluster sizes. Thread-safety: pure.
#pragma once

#include <string>
#include <vector>

#include "common/plan/planner.h"

namespace strata::cli {

std::string PlanText(const ClusterSpec& cluster, const ClusterPlan& plan);

// One stage's placement in a few lines: layers per tier, pinned spread, SSD bytes per pass,
// slots and ring, where the embedding is, each memory by part against its budget.
std::string PlacementSummary(const Placement& placement, const WorkerSpec& budgets);
double Gib(size_t bytes);

// One cluster size of a what-if sweep: its plan, or why it has none.
struct WhatIfRow {
  int32_t nodes = 0;
  ClusterSpec cluster;
  StatusOr<ClusterPlan> plan = Status(StatusCode::kInternal, "not planned");
};

std::string WhatIfText(const std::vector<WhatIfRow>& rows);

}  // namespace strata::cli
