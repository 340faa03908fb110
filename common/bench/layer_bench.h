// The layer benchmark behind `strata bench`: the seed report (seed-measurements.md) for the
// machine it runs on, from a pack — 1a prefill and 1b decode compute of one layer, 2 pinned →
// GPU and 3 SSD → pinned copies of a layer extent, each with mean/min/max/std — and beyond
// the seed, the ceilings measured in the same run (raw O_DIRECT read of the same file, pinned
// copy peak, memory read bandwidth, GEMM peak for the dtype) with every stage as a fraction
// of its ceiling, the overlap analysis, and a real pipelined run of streamed layers whose
// achieved time per layer is compared with the slowest-stage prediction, and the cost of a
// pass against its tokens (the verify-pass curve speculative decoding sizes its trees by).
// Thread-safety: RunLayerBench drives the backend from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/backend/backend.h"
#include "common/bench/overlap.h"
#include "common/bench/sample_stats.h"
#include "common/engine/pack_model.h"
#include "common/storage/extent_reader.h"
#include "common/util/status.h"

namespace strata {

// The tiers a run asks for: the first gpu_layers on the GPU, the next pinned_layers pinned,
// the rest streamed (-1: chosen by the placement rules); prefetch distances (-1: chosen).
struct BenchTiers {
  int32_t gpu_layers = 0;
  int32_t pinned_layers = 0;
  int32_t prefetch_ssd = -1;
  int32_t prefetch_h2d = -1;
};

// How a run's layers are placed: the caller's placement rules (common/engine/pack_placement.h),
// given the pack, its first `layers` layers, the tiers asked for and the engine options.
using PlaceBenchRange = std::function<StatusOr<PackModelOptions>(
    const std::string& dir, int32_t layers, const BenchTiers& tiers, const ServingLimits& engine)>;

struct LayerBenchOptions {
  int32_t prefill_tokens = 2048;  // 1a: tokens of one prefill chunk
  int32_t decode_kv = 256;        // 1b: positions in the KV cache before the decoded token
  int32_t iters = 10;             // timed repetitions per stage, after one warm-up
  int32_t compute_layers = 4;     // GPU-resident layers the compute stages run through
  int32_t layers = -1;            // pack layers the transfers and the pipelined run use; -1: all
  int32_t pipeline_passes = 3;    // timed passes per mode of the pipelined run; 0: skip it
  // The pipelined run's verify-pass curve: passes of one sequence over this many tokens each
  // (a speculative tree's, logits for every row) after decode_kv positions; empty: none.
  std::vector<int32_t> verify_tokens;
  BenchTiers pipeline_tiers;      // the pipelined run's tiers (default: all streamed)
  PlaceBenchRange place;          // required
  ReaderOptions reader;
  uint64_t raw_read_max_bytes = uint64_t{2} << 30;  // per raw-read ceiling measurement
};

// One measured stage of the seed report.
struct StageResult {
  SampleStats ms;
  double bytes = 0;         // per sample (transfers; the layer's weights for decode)
  double gbps = 0;          // bytes / mean time
  double tflops = 0;        // prefill only: the layer's FLOPs / mean time
  double of_ceiling = 0;    // achieved / ceiling, 0..1 (decode: floor time / mean time)
};

struct Ceilings {
  double raw_read_gbps = 0;     // best of 1 and 4 threads
  double raw_read_1t_gbps = 0;
  double raw_read_4t_gbps = 0;
  bool raw_read_direct = false;
  double pinned_copy_gbps = 0;  // best single pinned → device copy of 256 MiB or a layer
  double memory_read_gbps = 0;  // device (host, on the CPU backend) memory read
  double gemm_tflops = 0;       // best of the layer's GEMM shapes and a square one
  std::string gemm_shape;       // "m x n x k" of the best
  std::string gemm_weights;     // the probe's weight dtype: "bf16" (bf16 and int4 packs) or "fp8"
};

// A pipelined run in one mode: wall time per pass over the streamed layers.
struct PipelineResult {
  int32_t passes = 0;
  SampleStats pass_ms;              // host wall time of each pass's whole forward
  double achieved_ms_per_layer = 0;  // mean pass / layers
  double predicted_ms_per_layer = 0; // mean over layers of its tier's slowest standalone stage
  double ratio = 0;                  // achieved / predicted (target <= 1.1)
  double overlap = 0;                // Σ per-layer max(stage in the pass) / pass wall
  double ssd_ms = 0, h2d_ms = 0, compute_ms = 0;  // mean per streamed layer inside the passes
};

// One point of the verify-pass curve: the wall time of a pass over `tokens` tokens.
struct VerifyPoint {
  int32_t tokens = 0;
  SampleStats pass_ms;
};

struct LayerBenchReport {
  std::string pack_dir, source, dtype, backend, read_path;
  std::string model;  // "hidden 8192, 64 heads / 8 KV, MLP 28672"
  int32_t layers = 0;            // layers used for transfers and the pipeline
  double layer_bytes = 0;        // mean extent bytes
  LayerBenchOptions options;
  StageResult prefill, decode, h2d, ssd;  // 1a, 1b, 2, 3
  Ceilings ceilings;
  OverlapAnalysis prefill_overlap, decode_overlap;
  int32_t pipeline_gpu = 0, pipeline_pinned = 0, pipeline_ssd = 0;
  int32_t pipeline_gpu_slots = 0, pipeline_staging_chunks = 0;
  bool pipeline_verified = false;  // streamed layers checked against their checksums
  bool has_pipeline = false;
  PipelineResult pipeline_prefill, pipeline_decode;
  std::vector<VerifyPoint> verify_curve;  // in options.verify_tokens' order
};

// Runs everything on `backend` over the pack in `pack_dir`. Errors: the pack's (Pack::Open,
// reads, checksums), options out of range (kInvalidArgument), memory (kResourceExhausted).
StatusOr<LayerBenchReport> RunLayerBench(Backend& backend, const std::string& pack_dir,
                                         const LayerBenchOptions& options);

}  // namespace strata
