// Predicted time of one worker's pass (a prefill chunk or a decode step) over its layers,
// stage by stage, from their placement (placement.h, PredictPass), with the prefetch
// distances the placement gives against the ideal ones, and the hop to the next worker.
// Not modelled: the pipeline's fill (a pass's first streamed layer waits once for its
// transfer), jitter, and the compute of the embedding and LM head. Thread-safety: pure
// functions.
#pragma once

#include <cstdint>

#include "common/plan/cost_model.h"
#include "common/plan/placement.h"

namespace strata {

struct PrefetchDistance {
  int32_t ideal = 0;   // ceil(transfer / compute); 0 when the stream carries no layer
  int32_t capped = 0;  // at most the placement's distance and the layers the stream carries
};

struct PhaseEstimate {
  double ssd_ms = 0;  // busy time of each stage in one pass
  double h2d_ms = 0;
  double compute_ms = 0;
  double serial_ms = 0;     // the stages one after another, nothing overlapping
  double pipelined_ms = 0;  // the sum over layers of their slowest stage
  Stage bottleneck = Stage::kCompute;  // the stage that paces most of the pipelined time
  double hop_ms = 0;  // sending the pass's activations to the next worker (0 from the last)
  PrefetchDistance prefetch_ssd;
  PrefetchDistance prefetch_h2d;
};

// Tokens one pass carries: the prefill chunk, or one per sequence of the decode batch.
int32_t TokensPerPass(const WorkloadSpec& workload, Phase phase);

// ms to send one pass's activations over `cluster.link` (0 when no link is modelled).
double HopMs(const ClusterSpec& cluster, Phase phase);

// Worker `w`'s pass in `phase` with its layers placed as `placement` says.
PhaseEstimate EstimatePhase(const ClusterSpec& cluster, size_t w, const Placement& placement,
                            Phase phase);

}  // namespace strata
