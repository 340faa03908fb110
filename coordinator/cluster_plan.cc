// MakeClusterSpec and MakeAssignment (see cluster_plan.h).
#include "coordinator/cluster_plan.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "common/cluster/assignment_placement.h"
#include "common/model/forward_memory.h"
#include "common/plan/model_spec.h"

namespace strata::coordinator {
namespace {

// What a host-memory (CPU) worker is planned with, for its "GPU" and, when it names none, its
// pinned memory: 256 TiB, far above any model, under the planner's 1 PiB sanity cap.
constexpr size_t kHostMemoryBudget = size_t{1} << 48;

// The model as the workers' packs hold it: the split points of the writer's layout for their
// dtype (none for a dtype this build does not know), below the largest registered layer
// extent (the packs' own figure, which the planner keeps).
ModelSpec PackedModel(const std::vector<control::v1::Registration>& workers,
                      const ModelConfig& config, uint64_t layer_bytes) {
  const std::optional<PackDType> dtype =
      workers.empty() ? std::nullopt : ParsePackDType(workers.front().pack().dtype());
  ModelSpec model = ModelSpecFor(config, dtype.value_or(PackDType::kBF16));
  if (!dtype) model.layer_split_points.clear();
  return WithLayerBytes(std::move(model), layer_bytes);
}

}  // namespace

ServingLimits StageLimits(const ServingLimits& limits,
                          const std::optional<ClusterSpeculation>& speculation) {
  ServingLimits stage = limits;
  if (speculation) stage.max_seq_len += speculation->setting.tree_tokens;
  return stage;
}

StatusOr<size_t> DraftResidentBytes(const ModelDirectory& draft,
                                    const ServingLimits& stage_limits) {
  const std::optional<PackDType> dtype = ParsePackDType(draft.dtype);
  if (!draft.is_pack || !dtype) {
    return InvalidArgument("--draft-model " + draft.path +
                           " is not a Strata pack: pack it (strata pack --model DIR --out DIR)");
  }
  const ModelSpec m = ModelSpecFor(draft.config, *dtype);
  return static_cast<size_t>(m.layers) * m.layer_bytes + m.first_end_bytes + m.last_end_bytes +
         ForwardDeviceBytes(draft.config, stage_limits);
}

ClusterSpec MakeClusterSpec(const std::vector<control::v1::Registration>& workers,
                            const ModelConfig& config, const ServingLimits& limits,
                            const std::optional<LinkSpec>& link,
                            const std::optional<ClusterSpeculation>& speculation) {
  ClusterSpec spec;
  spec.link = link;
  uint64_t layer_bytes = 0;
  for (const auto& registration : workers) {
    const control::v1::Capabilities& caps = registration.capabilities();
    WorkerSpec w;
    w.name = caps.name();
    w.gpu_mem = caps.gpu_bytes();
    w.pinned_mem = caps.pinned_bytes();
    w.ssd_gbps = caps.ssd_gbps();
    w.h2d_gbps = caps.h2d_gbps();
    w.prefill_ms = caps.prefill_ms_per_layer();
    w.prefill_tokens = caps.prefill_tokens();
    w.decode_ms = caps.decode_ms_per_layer();
    if (caps.gpu_bytes() == 0) {
      w.gpu_mem = kHostMemoryBudget;
      if (w.pinned_mem == 0) w.pinned_mem = kHostMemoryBudget;
      if (!(w.ssd_gbps > 0)) w.ssd_gbps = 1.0;
      if (!(w.h2d_gbps > 0)) w.h2d_gbps = 1.0;
    }
    spec.workers.push_back(std::move(w));
    layer_bytes = std::max(layer_bytes, registration.pack().layer_bytes());
  }
  spec.model = PackedModel(workers, config, layer_bytes);
  if (speculation) spec.model.last_end_bytes += speculation->draft_bytes;
  const ServingLimits stage = StageLimits(limits, speculation);
  spec.workload.prefill_chunk_tokens = stage.max_batch_tokens;
  spec.workload.decode_batch = stage.kv_slots;
  spec.workload.kv_tokens = int64_t{stage.kv_slots} * stage.max_seq_len;
  return spec;
}

control::v1::Assignment MakeAssignment(const ClusterPlan& plan, int32_t stage, uint64_t epoch,
                                       const ServingLimits& limits, const std::string& transport,
                                       const std::optional<ClusterSpeculation>& speculation) {
  const WorkerPlan& w = plan.workers[static_cast<size_t>(stage)];
  control::v1::Assignment a;
  a.set_epoch(epoch);
  a.set_stage(stage);
  a.set_num_stages(static_cast<int32_t>(plan.workers.size()));
  a.set_first_layer(w.first_layer);
  a.set_num_layers(w.layers());
  cluster::WritePlacement(w.placement, a);
  const ServingLimits stage_limits = StageLimits(limits, speculation);
  a.set_max_batch_tokens(stage_limits.max_batch_tokens);
  a.set_max_seq_len(stage_limits.max_seq_len);
  a.set_kv_slots(stage_limits.kv_slots);
  a.set_transport(transport);
  if (speculation && stage + 1 == a.num_stages()) {
    a.set_draft_model(speculation->draft_model);
    a.set_speculative_tree_tokens(speculation->setting.tree_tokens);
    a.set_speculative_adaptive(speculation->setting.mode == SpeculationMode::kAuto);
    a.set_draft_branch(speculation->branch);
  }
  return a;
}

}  // namespace strata::coordinator
