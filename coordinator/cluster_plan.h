// The planner's view of a registered cluster: a ClusterSpec built from the workers'
// Capabilities and the model (sizes from the config and the packs' largest layer, split
// points from the pack writer's layout for the packs' dtype), and the Assignment each stage
// gets from the resulting plan. Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/loader/model_directory.h"
#include "common/model/config.h"
#include "common/plan/planner.h"
#include "common/proto/strata_control.pb.h"
#include "common/serving/serving_limits.h"
#include "common/serving/speculation.h"

namespace strata::coordinator {

// Speculative decoding in a cluster: the last stage's draft model (a pack directory on its
// worker's filesystem, GPU-resident there), the trees it grows, and the GPU bytes it holds
// on that stage (weights, KV cache, activations), which the plan sets aside.
struct ClusterSpeculation {
  std::string draft_model;
  Speculation setting;  // auto or a fixed size
  int32_t branch = kDefaultDraftBranch;
  size_t draft_bytes = 0;
};

// The limits the stages run under: a tree's nodes take cache rows beyond max_seq_len while
// they are verified.
ServingLimits StageLimits(const ServingLimits& limits,
                          const std::optional<ClusterSpeculation>& speculation);
// The GPU bytes the draft pack `draft` needs under `stage_limits` (StageLimits).
// kInvalidArgument when it is not a pack.
StatusOr<size_t> DraftResidentBytes(const ModelDirectory& draft, const ServingLimits& stage_limits);

// `workers` in pipeline order. A worker with gpu_bytes 0 computes in host memory: it gets a
// budget large enough that all its layers are "gpu" (resident) tier, and since nothing is
// then streamed, missing transfer rates are set to 1 GB/s so the spec validates. `link`,
// when given, models the activation hops (measure it with `strata bench-transport`).
// With `speculation` the last worker also holds the draft.
ClusterSpec MakeClusterSpec(const std::vector<control::v1::Registration>& workers,
                            const ModelConfig& config, const ServingLimits& limits,
                            const std::optional<LinkSpec>& link = std::nullopt,
                            const std::optional<ClusterSpeculation>& speculation = std::nullopt);

// Stage `stage`'s assignment from `plan` (epoch, StageLimits and transport filled in; the last
// stage's draft with `speculation`).
control::v1::Assignment MakeAssignment(
    const ClusterPlan& plan, int32_t stage, uint64_t epoch, const ServingLimits& limits,
    const std::string& transport,
    const std::optional<ClusterSpeculation>& speculation = std::nullopt);

}  // namespace strata::coordinator
