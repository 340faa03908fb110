// Reads a cluster description (workers, model, workload, link) from JSON; the schema is in
// docs/operations.md ("strata plan"). Every error names the file, the line and the field:
// "cluster.json:14: workers[2].ssd_gbps: must be a positive number, got -1".
// Thread-safety: pure functions (LoadClusterFile reads the file).
#pragma once

#include <string>
#include <string_view>

#include "common/plan/cost_model.h"

namespace strata {

// Parses `text`; `source` names it in messages. The result is validated (ValidateCluster).
// A file gives no layer split points (it has no pack layout): its stages get no GPU prefixes.
StatusOr<ClusterSpec> ParseClusterJson(std::string_view text, std::string_view source);

StatusOr<ClusterSpec> LoadClusterFile(const std::string& path);

}  // namespace strata
