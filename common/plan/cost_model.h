// The planner's inputs — what each worker can do, what the model weighs, the link between
// workers and the workload — and the per-layer stage times they imply. Units: bytes,
// GB/s (1e9 bytes per second), milliseconds. Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/storage/tiers.h"
#include "common/util/status.h"

namespace strata {

// One worker node, as measured by `strata bench` or given in a cluster file.
struct WorkerSpec {
  std::string name;
  size_t gpu_mem = 0;     // the whole GPU budget (placement.h says what it covers)
  size_t pinned_mem = 0;  // the whole pinned host budget
  double ssd_gbps = 0;    // pack reads into pinned memory
  double h2d_gbps = 0;    // pinned memory -> GPU copies
  double prefill_ms = 0;  // compute of one layer for `prefill_tokens` tokens
  int32_t prefill_tokens = 2048;
  double decode_ms = 0;  // compute of one layer for one decode step of the workload's batch
};

// The model, as the planner sees it: identical decoder layers plus the two ends.
struct ModelSpec {
  int32_t layers = 0;
  size_t layer_bytes = 0;       // one decoder layer's weights in the pack's dtype
  // Where a layer's extent may be cut without cutting a tensor (ExtentSplitPoints of the
  // pack's layout): ascending multiples of 4096 below layer_bytes. Empty: no GPU prefixes.
  std::vector<size_t> layer_split_points;
  size_t first_end_bytes = 0;   // token embedding, GPU-resident on the first worker
  size_t last_end_bytes = 0;    // final norm and LM head, GPU-resident on the last worker
  size_t activation_bytes_per_token = 0;    // hidden state sent from one worker to the next
  size_t kv_bytes_per_token_per_layer = 0;  // K and V of one token in one layer (GPU memory)
  size_t scratch_bytes_per_token = 0;  // the engine's GPU scratch per batch token
  size_t scratch_fixed_bytes = 0;      // and besides (logits rows, RoPE table)
};

// The network between consecutive workers; absent: activation hops are not modelled.
struct LinkSpec {
  double gbps = 0;
  double latency_ms = 0;  // per hop, one way
};

// What a pass carries.
struct WorkloadSpec {
  int32_t prefill_chunk_tokens = 2048;  // tokens in one prefill pass
  int32_t decode_batch = 1;             // sequences (one token each) in one decode step
  int64_t kv_tokens = 0;                // KV-cache positions reserved on every layer's worker
};

struct ClusterSpec {
  std::vector<WorkerSpec> workers;  // in pipeline order
  ModelSpec model;
  WorkloadSpec workload;
  std::optional<LinkSpec> link;
};

// Checks every field: positive finite bandwidths and times, at least one layer per worker,
// sizes that do not overflow. The message names the worker and field and what to do.
Status ValidateCluster(const ClusterSpec& cluster);

// Checks a layer's split points: strictly ascending multiples of 4096, each in
// (0, layer_bytes). The message says which point is wrong (the caller names the field).
Status ValidateSplitPoints(const std::vector<size_t>& points, size_t layer_bytes);

enum class Phase : uint8_t { kPrefill, kDecode };
std::string_view PhaseName(Phase phase);  // "prefill", "decode"

// A stage of the per-worker pipeline, or the hop to the next worker.
enum class Stage : uint8_t { kSsd, kH2d, kCompute, kLink };
std::string_view StageName(Stage stage);  // "ssd", "h2d", "compute", "link"

// Milliseconds one layer spends in each stage of one pass (0 where its tier skips it).
struct LayerStages {
  double ssd_ms = 0;
  double h2d_ms = 0;
  double compute_ms = 0;

  double serial_ms() const { return ssd_ms + h2d_ms + compute_ms; }  // nothing overlaps
  double pipelined_ms() const;  // steady state: the slowest stage sets the pace
  Stage bottleneck() const;     // the slowest stage (compute on ties)
};

// ms to move `bytes` at `gbps`.
double TransferMs(size_t bytes, double gbps);

// A layer's compute in `phase`: prefill scales the measured time linearly with the chunk's
// tokens; decode is the measured step.
double ComputeMs(const WorkerSpec& worker, const WorkloadSpec& workload, Phase phase);

// Stage times of one layer of `model` homed in `tier` on `worker`: GPU computes only;
// pinned copies then computes; SSD reads, copies, computes.
LayerStages StagesFor(const WorkerSpec& worker, const ModelSpec& model,
                      const WorkloadSpec& workload, Tier tier, Phase phase);

// The seed analysis' prefetch distance: how many layers ahead a transfer must start to
// arrive in time, ceil(transfer / compute); 0 when nothing is transferred.
int32_t IdealPrefetch(double transfer_ms, double compute_ms);

}  // namespace strata
