// PackModel (see pack_model.h): loading the ends, choosing tiers, wiring the executor.
#include "common/engine/pack_model.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

namespace strata {
namespace {

// Past double buffering, a transfer-bound stream gains little from more slots, and each GPU
// slot displaces a resident layer.
constexpr int32_t kMaxAutoPrefetch = 4;

// ceil(transfer / compute), at least 1 and at most kMaxAutoPrefetch.
int32_t DistanceFor(double transfer_ms, double compute_ms) {
  const double d = std::ceil(transfer_ms / std::max(compute_ms, 1e-6));
  return static_cast<int32_t>(std::clamp(d, 1.0, double{kMaxAutoPrefetch}));
}

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// The fastest of three passes of one token's activations through `model`'s layers (the
// first warms up); no embedding or head, so any pipeline stage can be timed.
StatusOr<double> TimeOneToken(LlamaModel& model) {
  double best = 1e300;
  const std::vector<float> hidden_in(static_cast<size_t>(model.config().hidden_size), 0.5f);
  std::vector<float> hidden_out(hidden_in.size());
  for (int i = 0; i < 3; ++i) {
    const int32_t slot = *model.kv_cache().Acquire();
    BatchLayout batch;
    const int32_t token = 0;
    batch.Add(slot, 0, &token, 1);
    const auto start = std::chrono::steady_clock::now();
    const Status st =
        model.ForwardStage(batch, hidden_in, hidden_out.data(), LogitsMode::kLastToken, nullptr);
    best = std::min(best, MsSince(start));
    model.kv_cache().Release(slot);
    STRATA_RETURN_IF_ERROR(st);
  }
  return best;
}

size_t AvailableHostBytes() {
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

}  // namespace

StatusOr<std::unique_ptr<PackModel>> PackModel::Open(Backend& backend, const std::string& dir,
                                                     const PackModelOptions& options) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(dir));
  const int64_t pack_layers = pack.config().num_layers;
  const int64_t first = options.first_layer;
  const int64_t count = options.num_layers < 0 ? pack_layers - first : options.num_layers;
  if (first < 0 || first >= pack_layers || count < 1 || first + count > pack_layers) {
    return InvalidArgument("layer range [" + std::to_string(first) + ", " +
                           std::to_string(first + count) + ") is not inside the " +
                           std::to_string(pack_layers) + " layers of pack " + dir);
  }
  ModelConfig config = pack.config();
  config.num_layers = count;
  std::unique_ptr<PackModel> m(new PackModel(std::move(pack)));
  m->first_layer_ = static_cast<int32_t>(first);
  STRATA_ASSIGN_OR_RETURN(m->reader_, ExtentReader::Open(m->pack_.data_path(), options.reader));
  m->source_ = std::make_unique<PackLayerSource>(m->pack_, *m->reader_, m->first_layer_,
                                                 static_cast<int32_t>(count));

  // The stage with the first layer embeds; the one with the last layer has the head.
  size_t end_bytes = 0;
  EndWeights ends;
  if (first == 0) {
    STRATA_ASSIGN_OR_RETURN(std::byte* embed, m->LoadEnd(backend, m->pack_.embed_extent()));
    STRATA_ASSIGN_OR_RETURN(ends.embed, m->pack_.BindEmbed(embed));
    end_bytes += m->pack_.embed_extent().bytes;
  }
  if (first + count == pack_layers) {
    STRATA_ASSIGN_OR_RETURN(std::byte* norm, m->LoadEnd(backend, m->pack_.final_norm_extent()));
    STRATA_ASSIGN_OR_RETURN(std::byte* head, m->LoadEnd(backend, m->pack_.lm_head_extent()));
    STRATA_ASSIGN_OR_RETURN(ends.final_norm, m->pack_.BindFinalNorm(norm));
    STRATA_ASSIGN_OR_RETURN(ends.lm_head, m->pack_.BindLmHead(head));
    end_bytes += m->pack_.final_norm_extent().bytes + m->pack_.lm_head_extent().bytes;
  }

  PackModelOptions resolved = options;
  if (options.prefetch_ssd < 0 || options.prefetch_h2d < 0) {
    STRATA_ASSIGN_OR_RETURN(m->estimate_, m->MeasureStages(backend, ends));
    const StageEstimate& e = m->estimate_;
    if (options.prefetch_ssd < 0) resolved.prefetch_ssd = DistanceFor(e.ssd_ms, e.compute_ms);
    if (options.prefetch_h2d < 0) resolved.prefetch_h2d = DistanceFor(e.h2d_ms, e.compute_ms);
  }
  StreamingOptions so;
  STRATA_ASSIGN_OR_RETURN(so.tiers, m->ChooseTiers(backend, resolved, config, end_bytes));
  so.prefetch_ssd = resolved.prefetch_ssd;
  so.prefetch_h2d = resolved.prefetch_h2d;
  so.verify_streamed = options.verify_streamed;
  so.gpu_budget = options.gpu_mem;
  so.pinned_budget = options.pinned_mem;
  STRATA_ASSIGN_OR_RETURN(m->executor_, StreamingExecutor::Create(backend, *m->source_, so));
  STRATA_ASSIGN_OR_RETURN(m->model_, LlamaModel::Create(backend, config, ends, *m->executor_,
                                                        options.engine));
  return m;
}

StatusOr<std::byte*> PackModel::LoadEnd(Backend& backend, const PackExtent& extent) {
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer staging, backend.AllocatePinned(extent.bytes));
  STRATA_RETURN_IF_ERROR(reader_->ReadSync(extent.offset, extent.bytes, staging.get()));
  STRATA_RETURN_IF_ERROR(pack_.VerifyExtent(extent, staging.get()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(extent.bytes));
  backend.CopyToDevice(device.get(), staging.get(), extent.bytes);
  ends_.push_back(std::move(device));
  return ends_.back().get();
}

StatusOr<StageEstimate> PackModel::MeasureStages(Backend& backend, const EndWeights& ends) {
  StageEstimate est;
  const PackExtent& extent = pack_.layer_extent(first_layer_);
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer host, backend.AllocatePinned(extent.bytes));
  const auto read_start = std::chrono::steady_clock::now();
  STRATA_RETURN_IF_ERROR(reader_->ReadSync(extent.offset, extent.bytes, host.get()));
  est.ssd_ms = MsSince(read_start);
  STRATA_RETURN_IF_ERROR(pack_.VerifyExtent(extent, host.get()));

  STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(extent.bytes));
  const std::unique_ptr<BackendEvent> start = backend.CreateEvent(), end = backend.CreateEvent();
  for (int i = 0; i < 2; ++i) {  // the second copy is the one timed
    backend.RecordEvent(*start, Stream::kCopy);
    backend.CopyToDeviceAsync(device.get(), host.get(), extent.bytes, Stream::kCopy);
    backend.RecordEvent(*end, Stream::kCopy);
    backend.WaitEvent(*end);
  }
  est.h2d_ms = backend.ElapsedMs(*start, *end);

  STRATA_ASSIGN_OR_RETURN(LlamaLayerWeights layer, pack_.BindLayer(first_layer_, device.get()));
  EngineOptions tiny;
  tiny.max_batch_tokens = 1;
  tiny.max_seq_len = 1;
  double ms[2] = {0, 0};
  for (int32_t layers = 0; layers <= 1; ++layers) {
    ModelConfig config = pack_.config();
    config.num_layers = layers;
    ResidentLayers feed(std::vector<LlamaLayerWeights>(static_cast<size_t>(layers), layer));
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                            LlamaModel::Create(backend, config, ends, feed, tiny));
    STRATA_ASSIGN_OR_RETURN(ms[layers], TimeOneToken(*model));
  }
  est.compute_ms = std::max(ms[1] - ms[0], 1e-3);
  return est;
}

StatusOr<std::vector<Tier>> PackModel::ChooseTiers(Backend& backend,
                                                   const PackModelOptions& options,
                                                   const ModelConfig& config,
                                                   size_t end_bytes) const {
  const int32_t n = static_cast<int32_t>(config.num_layers);
  std::vector<size_t> bytes(static_cast<size_t>(n));
  size_t slot = 0;
  for (int32_t l = 0; l < n; ++l) {
    bytes[static_cast<size_t>(l)] = pack_.layer_extent(first_layer_ + l).bytes;
    slot = std::max(slot, bytes[static_cast<size_t>(l)]);
  }
  const bool explicit_counts = options.gpu_layers >= 0 || options.pinned_layers >= 0;
  if (explicit_counts) {
    const int32_t g = std::max(options.gpu_layers, 0), p = std::max(options.pinned_layers, 0);
    if (g + p > n) {
      return InvalidArgument("--gpu-layers " + std::to_string(g) + " plus --pinned-layers " +
                             std::to_string(p) + " is more than the pack's " + std::to_string(n) +
                             " layers this model runs");
    }
    std::vector<Tier> tiers(static_cast<size_t>(n), Tier::kSsd);
    std::fill(tiers.begin(), tiers.begin() + g, Tier::kGpu);
    std::fill(tiers.begin() + g, tiers.begin() + g + p, Tier::kPinned);
    return tiers;
  }
  // Budgets: what is left after the model's other memory and the staging slots.
  size_t gpu = options.gpu_mem;
  if (gpu == 0 && backend.caps().memory_bytes != 0) {
    const size_t other = end_bytes + LlamaModel::MemoryBytes(config, options.engine);
    const size_t usable = backend.caps().memory_bytes / 10 * 9;  // headroom for the runtime
    gpu = usable > other ? usable - other : 0;
  }
  size_t pinned = options.pinned_mem != 0 ? options.pinned_mem : AvailableHostBytes() / 2;
  if (gpu == 0 && backend.caps().memory_bytes == 0) {
    return std::vector<Tier>(static_cast<size_t>(n), Tier::kGpu);  // host memory, no budget
  }
  const size_t gpu_slots = slot * static_cast<size_t>(options.prefetch_h2d + 1);
  const size_t pinned_slots = slot * static_cast<size_t>(options.prefetch_ssd + 1);
  return AssignTiers(bytes, gpu > gpu_slots ? gpu - gpu_slots : 0,
                     pinned > pinned_slots ? pinned - pinned_slots : 0);
}

}  // namespace strata
