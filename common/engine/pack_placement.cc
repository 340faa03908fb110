// PlacePack and ExecutionOptions (see pack_placement.h).
#include "common/engine/pack_placement.h"

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "common/model/forward_memory.h"
#include "common/storage/pack_format.h"

namespace strata {
namespace {

// A budget no model reaches, for host memory (the CPU backend) when none is given; far
// under the planner's 1 PiB sanity cap.
constexpr size_t kUnlimitedBytes = size_t{1} << 48;

size_t AvailableHostBytes() {
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

StageShape ShapeOf(const Backend& backend, const Pack& pack, int32_t first, int32_t count,
                   const ServingLimits& engine) {
  const int64_t pack_layers = pack.config().num_layers;
  StageShape s;
  s.layers = count;
  for (int32_t l = first; l < first + count; ++l) {
    s.layer_bytes = std::max<size_t>(s.layer_bytes, pack.layer_extent(l).bytes);
  }
  // The layers are alike: the first one's cuts stand for all (the executor checks each).
  for (const uint64_t point : ExtentSplitPoints(pack.layer_extent(first))) {
    s.split_points.push_back(point);
  }
  ModelConfig config = pack.config();
  config.num_layers = count;
  if (first == 0) {
    s.embed_bytes = pack.embed_extent().bytes;
    s.embed_gather_bytes = ForwardPinnedBytes(config, engine, /*embed_on_host=*/true);
  }
  if (first + count == pack_layers) {
    s.head_bytes = pack.final_norm_extent().bytes + pack.lm_head_extent().bytes;
  }
  s.runtime_gpu_bytes = ForwardDeviceBytes(config, engine) + backend.caps().workspace_bytes;
  return s;
}

WorkerSpec SpeedsOf(const StageEstimate& e, size_t layer_bytes) {
  WorkerSpec w;
  const auto gbps = [&](double ms) { return static_cast<double>(layer_bytes) / (ms * 1e6); };
  w.ssd_gbps = gbps(std::max(e.ssd_ms, 1e-6));
  w.h2d_gbps = gbps(std::max(e.h2d_ms, 1e-6));
  // Prefill is extrapolated linearly from one decode token: an upper bound that only
  // breaks ties between placements of equal decode time.
  w.decode_ms = e.compute_ms;
  w.prefill_ms = e.compute_ms;
  w.prefill_tokens = 1;
  return w;
}

}  // namespace

MemoryBudgets ResolveBudgets(const Backend& backend, size_t gpu_mem, size_t pinned_mem) {
  const size_t device = backend.caps().memory_bytes;
  MemoryBudgets b;
  b.gpu = gpu_mem != 0  ? gpu_mem
          : device == 0 ? kUnlimitedBytes
                        : static_cast<size_t>(static_cast<double>(device) * kDefaultGpuMemShare);
  b.pinned = pinned_mem != 0 ? pinned_mem : AvailableHostBytes() / 2;
  return b;
}

Status CheckBackendRunsPack(const Backend& backend, PackDType dtype, const std::string& dir) {
  if (dtype == PackDType::kInt4 && !backend.caps().int4_weights) {
    return Unimplemented("the int4 pack " + dir + " needs int4 weight kernels, which " +
                         backend.caps().name + " has not; run it on the cpu or cuda backend, "
                         "or pack the model with --dtype fp8 or bf16 for this one");
  }
  return OkStatus();
}

StatusOr<PackPlacement> PlacePack(Backend& backend, const std::string& dir,
                                  const PackPlacementRequest& request) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(dir));
  STRATA_RETURN_IF_ERROR(CheckBackendRunsPack(backend, pack.dtype(), dir));
  const int64_t first = request.first_layer;
  STRATA_ASSIGN_OR_RETURN(const int64_t count, pack.LayerRange(first, request.num_layers));
  PackPlacement out;
  out.shape = ShapeOf(backend, pack, static_cast<int32_t>(first), static_cast<int32_t>(count),
                      request.engine);
  out.workload.prefill_chunk_tokens = request.engine.max_batch_tokens;
  out.workload.decode_batch = request.decode_batch;
  const MemoryBudgets budgets = ResolveBudgets(backend, request.gpu_mem, request.pinned_mem);

  // Stage times matter only when something streams: place with nominal ones first (a layer
  // read in 1 s, copied in 10 ms, computed in 1 ms) and measure only if needed.
  out.worker = SpeedsOf({1000, 10, 1}, out.shape.layer_bytes);
  out.worker.gpu_mem = budgets.gpu;
  out.worker.pinned_mem = budgets.pinned;
  STRATA_ASSIGN_OR_RETURN(out.placement, PlaceStage(out.shape, out.worker, out.workload,
                                                    request.overrides));
  if (out.placement.streamed_layers() > 0) {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ExtentReader> reader,
                            ExtentReader::Open(pack.data_path(), request.reader));
    STRATA_ASSIGN_OR_RETURN(out.measured,
                            MeasureLayerStages(backend, pack, *reader,
                                               static_cast<int32_t>(first), kStagingChunkBytes));
    out.worker = SpeedsOf(*out.measured, out.shape.layer_bytes);
    out.worker.gpu_mem = budgets.gpu;
    out.worker.pinned_mem = budgets.pinned;
    STRATA_ASSIGN_OR_RETURN(out.placement, PlaceStage(out.shape, out.worker, out.workload,
                                                      request.overrides));
  }
  out.options = ExecutionOptions(out.placement, static_cast<int32_t>(first), request.engine,
                                 request.reader, request.verify_streamed);
  return out;
}

PackModelOptions ExecutionOptions(const Placement& placement, int32_t first_layer,
                                  const ServingLimits& engine, const ReaderOptions& reader,
                                  bool verify_streamed) {
  PackModelOptions o;
  o.first_layer = first_layer;
  o.num_layers = placement.layers;
  o.streaming.homes = placement.homes();
  o.streaming.gpu_slots = placement.gpu_slots;
  o.streaming.staging_chunks = placement.staging_chunks;
  o.streaming.chunk_bytes = placement.chunk_bytes;
  o.streaming.verify_streamed = verify_streamed;
  o.embed_on_gpu = placement.embed_on_gpu;
  o.reader = reader;
  o.engine = engine;
  return o;
}

}  // namespace strata
