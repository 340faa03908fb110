// The planner's view of a registered cluster: a ClusterSpec built from the workers'
// Capabilities and the model (sizes from the config and the packs' largest layer, split
// points from the pack writer's layout for the packs' dtype), and the Assignment each stage
// gets from the resulting plan. Thread-safety: pure functions.
#pragma once

#include <vector>

#include "common/model/config.h"
#include "common/plan/planner.h"
#include "common/proto/strata_control.pb.h"
#include "common/serving/serving_limits.h"

namespace strata::coordinator {

// `workers` in pipeline order. A worker with gpu_bytes 0 computes in host memory: it gets a
// budget large enough that all its layers are "gpu" (resident) tier, and since nothing is
// then streamed, missing transfer rates are set to 1 GB/s so the spec validates. `link`,
// when given, models the activation hops (measure it with `strata bench-transport`).
ClusterSpec MakeClusterSpec(const std::vector<control::v1::Registration>& workers,
                            const ModelConfig& config, const ServingLimits& limits,
                            const std::optional<LinkSpec>& link = std::nullopt);

// Stage `stage`'s assignment from `plan` (epoch, limits and transport filled in).
control::v1::Assignment MakeAssignment(const ClusterPlan& plan, int32_t stage, uint64_t epoch,
                                       const ServingLimits& limits, const std::string& transport);

}  // namespace strata::coordinator
