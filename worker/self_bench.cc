// MeasureCapabilities (see self_bench.h).
#include "worker/self_bench.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <vector>

#include "common/engine/pack_model.h"
#include "common/engine/stage_probe.h"
#include "common/engine/pack_placement.h"

namespace strata::worker {
namespace {

// Prefill chunks timed in turn, each only while the one before took less than kEnoughMs: the
// planner extrapolates from the largest, and a small chunk runs far below a GPU's GEMM speed
// (64 tokens: about a tenth of 2048's throughput on an H100), while a CPU stops at the first.
constexpr int32_t kPrefillChunks[] = {64, 512, 2048};
constexpr double kEnoughMs = 40.0;

// The fastest of two passes of `tokens` tokens through the one-layer model, in ms.
StatusOr<double> TimePrefill(LlamaModel& model, int32_t tokens) {
  const std::vector<float> in(static_cast<size_t>(tokens) * model.config().hidden_size, 0.5f);
  std::vector<float> out(in.size());
  const std::vector<int32_t> ids(static_cast<size_t>(tokens), 0);
  double best = 1e300;
  for (int i = 0; i < 2; ++i) {
    const int32_t slot = *model.kv_cache().Acquire();
    BatchLayout batch;
    batch.Add(slot, 0, ids.data(), tokens);
    const auto start = std::chrono::steady_clock::now();
    const Status st = model.ForwardStage(batch, in, out.data(), LogitsMode::kLastToken, nullptr);
    best = std::min(best, std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start).count());
    model.kv_cache().Release(slot);
    STRATA_RETURN_IF_ERROR(st);
  }
  return best;
}

}  // namespace

StatusOr<control::v1::Capabilities> MeasureCapabilities(Backend& backend,
                                                        const std::string& pack_dir,
                                                        size_t gpu_bytes, size_t pinned_bytes) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(pack_dir));
  const int32_t n = static_cast<int32_t>(pack.config().num_layers);
  PackPlacementRequest r;
  r.first_layer = n >= 3 ? n / 2 : 0;
  r.num_layers = 1;
  r.overrides.gpu_layers = 1;
  r.overrides.pinned_layers = 0;
  const int32_t max_chunk = std::min<int32_t>(
      std::end(kPrefillChunks)[-1], static_cast<int32_t>(pack.config().max_position_embeddings));
  r.engine.max_batch_tokens = max_chunk;
  r.engine.max_seq_len = max_chunk;
  StageEstimate e;
  {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ExtentReader> reader,
                            ExtentReader::Open(pack.data_path()));
    STRATA_ASSIGN_OR_RETURN(e, MeasureLayerStages(backend, pack, *reader, r.first_layer,
                                                      kStagingChunkBytes));
  }
  STRATA_ASSIGN_OR_RETURN(PackPlacement placed, PlacePack(backend, pack_dir, r));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PackModel> m,
                          PackModel::Open(backend, pack_dir, placed.options));
  const double bytes = static_cast<double>(pack.layer_extent(r.first_layer).bytes);

  // Prefill chunks through the layer, activations in and out.
  double prefill_ms = 0;
  int32_t prefill_tokens = 0;
  for (const int32_t tokens : kPrefillChunks) {
    if (tokens > max_chunk || (prefill_tokens > 0 && prefill_ms >= kEnoughMs)) break;
    STRATA_ASSIGN_OR_RETURN(prefill_ms, TimePrefill(m->model(), tokens));
    prefill_tokens = tokens;
  }

  control::v1::Capabilities caps;
  caps.set_backend(backend.caps().name);
  caps.set_tree_attention(backend.caps().tree_attention);
  // The planner's budgets: the worker's or their defaults; the GPU's less what the backend
  // holds for itself, 0 (no limit) on a backend computing in host memory.
  const MemoryBudgets budgets = ResolveBudgets(backend, gpu_bytes, pinned_bytes);
  const size_t workspace = backend.caps().workspace_bytes;
  caps.set_gpu_bytes(backend.caps().memory_bytes == 0 && gpu_bytes == 0 ? 0
                     : budgets.gpu > workspace                          ? budgets.gpu - workspace
                                                                        : 1);
  caps.set_pinned_bytes(budgets.pinned);
  caps.set_ssd_gbps(bytes / (std::max(e.ssd_ms, 1e-3) * 1e-3) / 1e9);
  caps.set_h2d_gbps(bytes / (std::max(e.h2d_ms, 1e-3) * 1e-3) / 1e9);
  caps.set_decode_ms_per_layer(e.compute_ms);
  caps.set_prefill_ms_per_layer(prefill_ms);
  caps.set_prefill_tokens(prefill_tokens);
  return caps;
}

}  // namespace strata::worker
