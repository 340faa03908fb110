// Placement: the one home of the resource rules. For one pipeline stage — a worker's range
// of identical decoder layers, the embedding when it embeds, the final norm and LM head when
// it has them — it decides where every byte lives between passes and what streaming costs,
// under the stage's two budgets, and predicts the pass times that choose among candidates.
// `strata generate`, `strata bench`, the worker and the coordinator's planner all place
// through PlaceStage; the engine (PackModel, StreamingExecutor) executes the result.
//
// The budgets are the whole process's:
//   GPU    = whole resident layers + GPU prefixes of streamed layers + GPU staging slots (a
//            layer each, less the prefix when every streamed layer has one) + the LM head
//            and final norm + the embedding table (only when every layer is resident too;
//            else it stays in host memory and a step gathers its rows) + runtime bytes (KV
//            cache, activations, the backend's workspace)
//   pinned = whole pinned layers (less their GPU prefixes) + pinned parts of the other
//            streamed layers + the SSD staging ring + the embedding gather buffer (when the
//            table stays on the host)
// GPU memory left over after the whole layers and the slots is not wasted: the first streamed
// layers keep a prefix of their extent on the GPU, ending at one of the layer's split points
// (no tensor is cut), the split point and layer count that keep the most bytes there, when
// that predicts a faster pass.
// Pinned bytes beyond the ring are spread over the layers read from the SSD so that each reads
// the same number of bytes, so the disk, the bottleneck whenever anything is read, is busy on
// every layer instead of idling while wholly pinned layers are copied. An SSD-bound stream
// needs one or two GPU slots (both are tried) and a ring that keeps the disk busy while the
// copy path is blocked (StagingChunks).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/storage/tiers.h"
#include "common/plan/cost_model.h"

namespace strata {

// Bytes of one SSD read and of one slot of the pinned staging ring.
inline constexpr size_t kStagingChunkBytes = size_t{16} << 20;
// Ring slots beyond what the stage times ask for, so reads keep the disk's queue full.
inline constexpr int32_t kStagingChunksInFlight = 2;
// The most ring slots the rule chooses (1 GiB at 16 MiB).
inline constexpr int32_t kMaxStagingChunks = 64;

// What one stage holds and needs, in bytes.
struct StageShape {
  int32_t layers = 0;
  size_t layer_bytes = 0;         // one decoder layer's extent (a multiple of 4096)
  // Where a layer may be cut without cutting a tensor (ExtentSplitPoints of one layer; the
  // layers are identical): ascending multiples of 4096 in (0, layer_bytes). Empty: no GPU
  // prefixes.
  std::vector<size_t> split_points;
  size_t embed_bytes = 0;         // the embedding table; 0 when the stage does not embed
  size_t embed_gather_bytes = 0;  // pinned buffer of gathered rows when the table is on host
  size_t head_bytes = 0;          // final norm + LM head; 0 when the stage has no head
  size_t runtime_gpu_bytes = 0;   // KV cache, activations and the backend's workspace
};

// Manual choices, validated by the same rules; -1 / nullopt: chosen.
struct PlacementOverrides {
  int32_t gpu_layers = -1;     // whole layers on the GPU (given: no GPU prefixes either)
  int32_t pinned_layers = -1;  // then whole layers in pinned memory, the rest read from SSD
  int32_t prefetch_ssd = -1;   // reads run this many layers' SSD bytes ahead (the ring size)
  int32_t prefetch_h2d = -1;   // copies run this many layers ahead: prefetch_h2d + 1 GPU slots
  std::optional<Tier> force_tier;  // every layer in this tier (the seed analysis: kSsd)
};

// Bytes of one memory by what holds them.
struct MemoryUse {
  size_t layers = 0;   // resident layers and GPU prefixes (GPU), or pinned layers and
                       // pinned parts of SSD layers (pinned)
  size_t staging = 0;  // GPU staging slots, or the SSD staging ring
  size_t ends = 0;     // LM head, final norm and (GPU) embedding table
  size_t runtime = 0;  // KV cache, activations, workspace (GPU); embedding gather (pinned)
  size_t total() const { return layers + staging + ends + runtime; }
};

// Where a stage's bytes live: layers [0, gpu_layers) on the GPU, the next pinned_layers
// pinned, the rest read from the SSD with `spread_pinned_bytes` of them pinned, spread so
// that each reads the same (SpreadPrefix). The first gpu_prefix_layers streamed layers
// (pinned or SSD) keep their first gpu_prefix_bytes (a split point) on the GPU; only the
// rest of them is pinned, read and copied.
struct Placement {
  int32_t layers = 0;
  size_t layer_bytes = 0;
  int32_t gpu_layers = 0;
  int32_t pinned_layers = 0;
  size_t spread_pinned_bytes = 0;
  size_t gpu_prefix_bytes = 0;
  int32_t gpu_prefix_layers = 0;
  int32_t gpu_slots = 0;       // 0 when nothing streams
  int32_t staging_chunks = 0;  // 0 when nothing is read from the SSD or loaded to the GPU
  size_t chunk_bytes = kStagingChunkBytes;
  bool embed_on_gpu = false;   // else gathered from host memory (when the stage embeds)
  MemoryUse gpu;
  MemoryUse pinned;

  int32_t ssd_layers() const { return layers - gpu_layers - pinned_layers; }
  int32_t streamed_layers() const { return layers - gpu_layers; }
  // Bytes of one GPU staging slot: a layer, less the GPU prefix when every streamed layer
  // keeps it.
  size_t slot_bytes() const;
  size_t ssd_bytes_per_pass() const;
  // The home of each layer, as the streaming executor takes them.
  std::vector<LayerHome> homes() const;
};

// The pinned part of the i-th of `ssd_layers` layers read from the SSD, of which the first
// `prefixed` keep `gpu_prefix` bytes on the GPU: `total` bytes in 4 KiB pages placed so that
// every layer reads the same — the layers without the prefix first get up to `gpu_prefix`
// bytes each, the rest is spread evenly, the first layers one page more — and always leaving
// at least a page of the layer to read.
size_t SpreadPrefix(size_t total, int32_t ssd_layers, int32_t i, size_t layer_bytes,
                    int32_t prefixed = 0, size_t gpu_prefix = 0);

// Ring slots that keep the disk busy while the copy path is blocked for one layer: the copy
// of its `copy_bytes` (a streamed layer's bytes off the GPU), and with one GPU slot its
// compute too, at the disk's rate.
int32_t StagingChunks(const WorkerSpec& worker, size_t copy_bytes, int32_t gpu_slots);

// Places `shape` on `worker` (its gpu_mem and pinned_mem are the budgets) for `workload`:
// among the candidates (one or two GPU slots, the embedding on the GPU or not, GPU prefixes
// or not) the one with the least predicted decode time per pass, then prefill time, then GPU
// bytes. kResourceExhausted, stating the minimum of each budget, when no placement fits;
// kInvalidArgument for a shape that is not one (no layer, unaligned bytes or split points)
// and for overrides that contradict the shape or each other.
StatusOr<Placement> PlaceStage(const StageShape& shape, const WorkerSpec& worker,
                               const WorkloadSpec& workload, const PlacementOverrides& overrides);

// Predicted time of one pass in `phase`: per layer its slowest stage (with one GPU slot a
// streamed layer's copy and compute take turns), summed; a streamed layer copies its bytes
// off the GPU and reads its bytes not pinned. Stage busy times in the fields.
struct PassPrediction {
  double ms = 0;
  double ssd_ms = 0, h2d_ms = 0, compute_ms = 0;  // busy time of each stage
  double serial_ms = 0;                           // nothing overlapping
  Stage bottleneck = Stage::kCompute;             // the stage pacing most of `ms`
};
PassPrediction PredictPass(const Placement& placement, const WorkerSpec& worker,
                           const WorkloadSpec& workload, Phase phase);

// A stage of `cluster`: worker `w` holding `layers` layers (the first embeds, the last has
// the head), cut where the model's layers may be cut.
StageShape StageShapeOf(const ClusterSpec& cluster, size_t w, int32_t layers);

}  // namespace strata
