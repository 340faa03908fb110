// The worker's Prometheus metrics (docs/operations.md, "Worker metrics"): each layer's stage
// times per pass by phase and tier, the last pass's per-layer times, bytes read from disk and
// copied to the GPU, passes, their wall time, tokens and overlap, the data-plane links, KV
// slots, the start-up ceilings and GPU memory. Every metric carries the constant label
// `worker` (its --name).
//
// Families, and every child not tied to a stage, are made at construction; the per-layer
// children when an assignment arrives (Assigned: the layer range is known only then), each
// layer's handles stored in a flat table. After a step, StepDone walks the last pass's
// timings and only observes, sets and adds through those stored pointers: no label lookups,
// no allocation.
// Thread-safety: prometheus-cpp metrics are thread-safe (scrapes run on the exposer's
// threads). Assigned, Unassigned and StepDone must not overlap (the session stops the
// compute thread before it replaces the stage); SetCeilings before the first scrape.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/backend/backend.h"
#include "common/transport/transport.h"
#include "worker/stage.h"

namespace strata::worker {

// What the worker measured (or was told, by flag) at start-up, for the ceiling gauges.
struct WorkerCeilings {
  double disk_read_gbps = 0;           // Capabilities.ssd_gbps
  double h2d_gbps = 0;                 // Capabilities.h2d_gbps
  std::optional<double> hbm_read_gbps;  // device memory read (CUDA only)
  std::optional<double> gemm_tflops;    // GEMM peak for the pack's weight dtype (CUDA only)
  std::string gemm_dtype;               // "bf16", "fp8"
};

// The hbm_read and GEMM ceilings by the backend's probes (a 1 GiB read; an 8192³ GEMM of the
// pack's weight dtype), on a backend with device memory; nothing on host backends. Takes
// well under a second on a datacenter GPU; the buffers are freed before it returns. A probe
// that fails (no memory, no GEMM algorithm) leaves its figure unset and is returned.
Status MeasureDeviceCeilings(Backend& backend, bool fp8_weights, WorkerCeilings& ceilings);

class WorkerMetrics {
 public:
  // `backend` (outlives this) reports device memory; `gpu_budget_bytes` the worker's GPU
  // budget (0 on host backends: no GPU memory gauges).
  WorkerMetrics(prometheus::Registry& registry, const std::string& worker, Backend& backend,
                size_t gpu_budget_bytes);

  void SetCeilings(const WorkerCeilings& c);

  // A stage was loaded: per-layer gauges for its layers (those of the previous stage are
  // removed), layers per tier, ring and slots, KV slots; link counters start from its links'
  // zero.
  void Assigned(const Stage& stage);
  // No stage any more (a reset, a failed load): the stage's gauges read 0 and its per-layer
  // gauges are removed.
  void Unassigned();
  // After a step the stage ran to completion (out.status ok): the executor's last pass.
  void StepDone(const Stage& stage, const StepOutput& out);
  // Sequences opened or closed.
  void SequencesChanged(const Stage& stage);

 private:
  static constexpr size_t kStages = 4;  // ssd_read, h2d, compute, wait
  static constexpr size_t kPhases = 2;  // prefill, decode
  static constexpr size_t kTiers = 3;   // gpu, pinned, ssd (the order of Tier)

  // One layer of the stage: where each of its stage times goes (null: the tier skips it).
  struct LayerHandles {
    std::array<std::array<prometheus::Histogram*, kStages>, kPhases> observe{};
    std::array<prometheus::Gauge*, kStages> last{};
  };
  struct Link {
    prometheus::Counter* seconds = nullptr;
    prometheus::Counter* bytes = nullptr;
    prometheus::Counter* messages = nullptr;
    transport::HopStats seen;  // the stage's counters when last added
  };

  void AddLinkDelta(Link& link, const transport::HopStats& now);
  void UpdateGpuMemory();

  Backend& backend_;
  const prometheus::Labels worker_;
  const size_t gpu_budget_bytes_;

  prometheus::Family<prometheus::Gauge>& layer_last_;
  // (phase, stage, tier)
  std::array<std::array<std::array<prometheus::Histogram*, kTiers>, kStages>, kPhases> stage_{};
  std::vector<LayerHandles> layers_;  // (the stage's layers)
  size_t h2d_bytes_per_pass_ = 0, ssd_bytes_per_pass_ = 0;

  prometheus::Counter* read_bytes_ = nullptr;
  prometheus::Counter* h2d_bytes_ = nullptr;
  std::array<prometheus::Gauge*, kTiers> tier_layers_{};
  prometheus::Gauge* staging_chunks_ = nullptr;
  prometheus::Gauge* gpu_slots_ = nullptr;
  std::array<prometheus::Gauge*, kPhases> overlap_{};
  std::array<prometheus::Counter*, kPhases> passes_{};
  std::array<prometheus::Histogram*, kPhases> pass_seconds_{};
  std::array<prometheus::Histogram*, kPhases> pass_tokens_{};
  Link send_, receive_;
  prometheus::Gauge* kv_in_use_ = nullptr;
  prometheus::Gauge* kv_slots_ = nullptr;
  prometheus::Family<prometheus::Gauge>& ceiling_bytes_;
  prometheus::Family<prometheus::Gauge>& ceiling_flops_;
  prometheus::Gauge* gpu_used_ = nullptr;  // null without device memory
  prometheus::Gauge* gpu_budget_ = nullptr;
  std::chrono::steady_clock::time_point gpu_read_at_{};
};

}  // namespace strata::worker
