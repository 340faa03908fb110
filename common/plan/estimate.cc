// Per-worker pass estimates (see estimate.h).
#include "common/plan/estimate.h"

#include <algorithm>
#include <array>

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

PhaseEstimate EstimatePhase(const ClusterSpec& cluster, size_t w, const Residency& residency,
                            Phase phase) {
  const WorkerSpec& worker = cluster.workers[w];
  PhaseEstimate e;
  std::array<double, 3> paced_ms{};  // pipelined time by the stage that paces it
  const auto add = [&](Tier tier, int32_t count) {
    const LayerStages s = StagesFor(worker, cluster.model, cluster.workload, tier, phase);
    const double n = count;
    e.ssd_ms += n * s.ssd_ms;
    e.h2d_ms += n * s.h2d_ms;
    e.compute_ms += n * s.compute_ms;
    e.serial_ms += n * s.serial_ms();
    e.pipelined_ms += n * s.pipelined_ms();
    paced_ms[static_cast<size_t>(s.bottleneck())] += n * s.pipelined_ms();
  };
  add(Tier::kGpu, residency.gpu_layers);
  add(Tier::kPinned, residency.pinned_layers);
  add(Tier::kSsd, residency.ssd_layers);
  // Ties go to compute, then to the transfer nearest to it.
  e.bottleneck = Stage::kCompute;
  for (Stage s : {Stage::kH2d, Stage::kSsd}) {
    if (paced_ms[static_cast<size_t>(s)] > paced_ms[static_cast<size_t>(e.bottleneck)]) {
      e.bottleneck = s;
    }
  }
  if (w + 1 < cluster.workers.size()) e.hop_ms = HopMs(cluster, phase);

  const double compute = ComputeMs(worker, cluster.workload, phase);
  if (residency.ssd_layers > 0) {
    e.prefetch_ssd.ideal =
        IdealPrefetch(TransferMs(cluster.model.layer_bytes, worker.ssd_gbps), compute);
    e.prefetch_ssd.capped =
        std::min({e.prefetch_ssd.ideal, residency.prefetch_ssd, residency.ssd_layers});
  }
  const int32_t streamed = residency.pinned_layers + residency.ssd_layers;
  if (streamed > 0) {
    e.prefetch_h2d.ideal =
        IdealPrefetch(TransferMs(cluster.model.layer_bytes, worker.h2d_gbps), compute);
    e.prefetch_h2d.capped = std::min({e.prefetch_h2d.ideal, residency.prefetch_h2d, streamed});
  }
  return e;
}

}  // namespace strata
