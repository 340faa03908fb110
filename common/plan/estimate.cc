// Per-worker pass estimates (see estimate.h).
#include "common/plan/estimate.h"

#include <algorithm>

namespace strata {

int32_t TokensPerPass(const WorkloadSpec& workload, Phase phase) {
  return phase == Phase::kPrefill ? workload.prefill_chunk_tokens : workload.decode_batch;
}

double HopMs(const ClusterSpec& cluster, Phase phase) {
  if (!cluster.link) return 0;
  const size_t bytes = cluster.model.activation_bytes_per_token *
                       static_cast<size_t>(TokensPerPass(cluster.workload, phase));
  return cluster.link->latency_ms + TransferMs(bytes, cluster.link->gbps);
}

PhaseEstimate EstimatePhase(const ClusterSpec& cluster, size_t w, const Placement& placement,
                            Phase phase) {
  const WorkerSpec& worker = cluster.workers[w];
  const PassPrediction pass = PredictPass(placement, worker, cluster.workload, phase);
  PhaseEstimate e;
  e.ssd_ms = pass.ssd_ms;
  e.h2d_ms = pass.h2d_ms;
  e.compute_ms = pass.compute_ms;
  e.serial_ms = pass.serial_ms;
  e.pipelined_ms = pass.ms;
  e.bottleneck = pass.bottleneck;
  if (w + 1 < cluster.workers.size()) e.hop_ms = HopMs(cluster, phase);

  const double compute = ComputeMs(worker, cluster.workload, phase);
  const int32_t ssd_layers = placement.ssd_layers();
  if (ssd_layers > 0) {
    const size_t per_layer = placement.ssd_bytes_per_pass() / static_cast<size_t>(ssd_layers);
    e.prefetch_ssd.ideal = IdealPrefetch(TransferMs(per_layer, worker.ssd_gbps), compute);
    // The ring holds this many layers' reads.
    const auto ring_layers = static_cast<int32_t>(
        placement.pinned.staging / std::max<size_t>(per_layer, 1));
    e.prefetch_ssd.capped = std::min({e.prefetch_ssd.ideal, ring_layers, ssd_layers});
  }
  const int32_t streamed = placement.streamed_layers();
  if (streamed > 0) {
    // The largest copy: a slot's bytes.
    e.prefetch_h2d.ideal =
        IdealPrefetch(TransferMs(placement.slot_bytes(), worker.h2d_gbps), compute);
    e.prefetch_h2d.capped =
        std::min({e.prefetch_h2d.ideal, placement.gpu_slots - 1, streamed});
  }
  return e;
}

}  // namespace strata
