// RunLayerBench (see layer_bench.h): the compute stages on GPU-resident layers, the
// transfer stages and ceilings on the pack's file, then the pipelined run.
#include "common/bench/layer_bench.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "common/bench/raw_read.h"
#include "common/engine/pack_model.h"
#include "common/storage/pack.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

constexpr size_t kCopyProbeBytes = size_t{256} << 20;
constexpr size_t kRawReadBlock = size_t{4} << 20;
constexpr int kRawReadThreads = 4;

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Deterministic token ids spread over the vocabulary.
std::vector<int32_t> TokenIds(int32_t n, int64_t vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919LL + 13) % vocab);
  return ids;
}

// FLOPs of one layer over a prefill chunk of t tokens from position 0: the seven
// projections and causal attention (QKᵀ and PV over t(t+1)/2 query-key pairs).
double PrefillFlops(const ModelConfig& c, int64_t t) {
  const double params = 2.0 * static_cast<double>(c.q_dim() * c.hidden_size) +
                        2.0 * static_cast<double>(c.kv_dim() * c.hidden_size) +
                        3.0 * static_cast<double>(c.intermediate_size * c.hidden_size);
  const double td = static_cast<double>(t);
  return 2.0 * td * params + 2.0 * static_cast<double>(c.q_dim()) * td * (td + 1.0);
}

int32_t MaxVerifyTokens(const LayerBenchOptions& o) {
  return o.verify_tokens.empty() ? 0
                                 : *std::max_element(o.verify_tokens.begin(), o.verify_tokens.end());
}

ServingLimits EngineFor(const LayerBenchOptions& o) {
  ServingLimits e;
  e.max_batch_tokens = std::max({o.prefill_tokens, o.decode_kv, MaxVerifyTokens(o)});
  e.max_seq_len = std::max(o.prefill_tokens, o.decode_kv + o.iters + o.pipeline_passes + 2 +
                                                  MaxVerifyTokens(o));
  e.kv_slots = 1;
  return e;
}

// Runs `n` tokens of `ids` at `start` of the sequence in `slot`: the whole forward when
// `hidden_out` is null, else the layers only, their output copied to `hidden_out`
// (n * hidden floats) — the compute stages time layers, not the LM head.
Status RunTokens(LlamaModel& model, int32_t slot, int32_t start, const int32_t* ids, int32_t n,
                 float* hidden_out, LogitsMode mode = LogitsMode::kLastToken) {
  BatchLayout batch;
  batch.Add(slot, start, ids, n);
  std::vector<float> logits;
  return model.ForwardStage(batch, {}, hidden_out, mode, &logits);
}

StatusOr<int32_t> AcquireSlot(LlamaModel& model) {
  std::optional<int32_t> slot = model.kv_cache().Acquire();
  if (!slot) return Internal("benchmark model has no free KV slot");
  return *slot;
}

// A prefill chunk as its own sequence.
Status RunPrefill(LlamaModel& model, const std::vector<int32_t>& ids, int32_t tokens,
                  float* hidden_out) {
  STRATA_ASSIGN_OR_RETURN(int32_t slot, AcquireSlot(model));
  const Status st = RunTokens(model, slot, 0, ids.data(), tokens, hidden_out);
  model.kv_cache().Release(slot);
  return st;
}

// Decodes passes + 1 tokens after a `kv`-token prefix; calls on_pass(wall ms of the
// forward) after each but the first.
template <typename F>
Status RunDecode(LlamaModel& model, const std::vector<int32_t>& ids, int32_t kv, int32_t passes,
                 float* hidden_out, F&& on_pass) {
  STRATA_ASSIGN_OR_RETURN(int32_t slot, AcquireSlot(model));
  Status st = RunTokens(model, slot, 0, ids.data(), kv, hidden_out);
  for (int32_t p = 0; st.ok() && p <= passes; ++p) {
    const auto start = std::chrono::steady_clock::now();
    st = RunTokens(model, slot, kv + p, &ids[static_cast<size_t>(p) % ids.size()], 1, hidden_out);
    if (st.ok() && p > 0) on_pass(MsSince(start));
  }
  model.kv_cache().Release(slot);
  return st;
}

// 1a and 1b: per-layer compute times from the executor's events, over GPU-resident layers.
Status MeasureCompute(Backend& backend, const std::string& dir, const LayerBenchOptions& o,
                      int32_t layers, const ModelConfig& config, LayerBenchReport& r) {
  const int32_t n = std::min(o.compute_layers, layers);
  STRATA_ASSIGN_OR_RETURN(PackModelOptions mo, o.place(dir, n, {n, 0, -1, -1}, EngineFor(o)));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PackModel> pm, PackModel::Open(backend, dir, mo));
  LlamaModel& model = pm->model();
  const std::vector<int32_t> ids = TokenIds(mo.engine.max_batch_tokens, config.vocab_size);
  auto collect = [&](std::vector<double>& out) {
    for (const LayerTiming& t : pm->executor().last_pass().layers) out.push_back(t.compute_ms);
  };
  // (max_batch_tokens, hidden) the layers' output; the range has no LM head.
  std::vector<float> hidden(static_cast<size_t>(mo.engine.max_batch_tokens * config.hidden_size));
  std::vector<double> prefill, decode;
  for (int32_t i = 0; i <= o.iters; ++i) {
    STRATA_RETURN_IF_ERROR(RunPrefill(model, ids, o.prefill_tokens, hidden.data()));
    if (i > 0) collect(prefill);
  }
  STRATA_RETURN_IF_ERROR(RunDecode(model, ids, o.decode_kv, o.iters, hidden.data(),
                                   [&](double) { collect(decode); }));
  r.prefill.ms = Summarize(prefill);
  r.prefill.tflops = PrefillFlops(config, o.prefill_tokens) / (r.prefill.ms.mean * 1e-3) / 1e12;
  r.decode.ms = Summarize(decode);
  r.decode.bytes = r.layer_bytes;
  r.decode.gbps = r.layer_bytes / (r.decode.ms.mean * 1e-3) / 1e9;
  return OkStatus();
}

// 2 and 3: each sample reads a layer's extent (cycling through the layers) into pinned
// memory, checks it, then copies it to the device; the two are timed apart.
Status MeasureTransfers(Backend& backend, const Pack& pack, const LayerBenchOptions& o,
                        int32_t layers, LayerBenchReport& r) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ExtentReader> reader,
                          ExtentReader::Open(pack.data_path(), o.reader));
  r.read_path = std::string(reader->path_kind());
  size_t max_bytes = 0;
  for (int32_t l = 0; l < layers; ++l) max_bytes = std::max<size_t>(max_bytes, pack.layer_extent(l).bytes);
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer pinned, backend.AllocatePinned(max_bytes));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(max_bytes));
  const std::unique_ptr<BackendEvent> start = backend.CreateEvent(), end = backend.CreateEvent();
  std::vector<double> ssd, h2d;
  double ssd_bytes = 0;
  for (int32_t i = 0; i <= o.iters; ++i) {
    const PackExtent& e = pack.layer_extent(i % layers);
    const auto t0 = std::chrono::steady_clock::now();
    STRATA_RETURN_IF_ERROR(reader->ReadSync(e.offset, e.bytes, pinned.get()));
    const double read_ms = MsSince(t0);
    STRATA_RETURN_IF_ERROR(pack.VerifyExtent(e, pinned.get()));
    backend.RecordEvent(*start, Stream::kCopy);
    backend.CopyToDeviceAsync(device.get(), pinned.get(), e.bytes, Stream::kCopy);
    backend.RecordEvent(*end, Stream::kCopy);
    backend.WaitEvent(*end);
    if (i == 0) continue;
    ssd.push_back(read_ms);
    h2d.push_back(backend.ElapsedMs(*start, *end));
    ssd_bytes += static_cast<double>(e.bytes);
  }
  const double bytes = ssd_bytes / static_cast<double>(o.iters);
  r.ssd.ms = Summarize(ssd);
  r.ssd.bytes = bytes;
  r.ssd.gbps = bytes / (r.ssd.ms.mean * 1e-3) / 1e9;
  r.h2d.ms = Summarize(h2d);
  r.h2d.bytes = bytes;
  r.h2d.gbps = bytes / (r.h2d.ms.mean * 1e-3) / 1e9;
  return OkStatus();
}

Status MeasureCeilings(Backend& backend, const Pack& pack, const LayerBenchOptions& o,
                       int32_t layers, const ModelConfig& c, LayerBenchReport& r) {
  Ceilings& ceil = r.ceilings;
  // Disk: the file range the layers occupy, at most raw_read_max_bytes of it.
  const uint64_t first = pack.layer_extent(0).offset;
  const PackExtent& last = pack.layer_extent(layers - 1);
  uint64_t span = std::min(last.offset + last.bytes - first, o.raw_read_max_bytes);
  span -= span % kDirectIoAlignment;
  const size_t block = std::min<size_t>(kRawReadBlock, span);
  STRATA_ASSIGN_OR_RETURN(RawReadResult one, MeasureRawRead(pack.data_path(), first, span, 1, block));
  STRATA_ASSIGN_OR_RETURN(RawReadResult four,
                          MeasureRawRead(pack.data_path(), first, span, kRawReadThreads, block));
  ceil.raw_read_1t_gbps = one.gbps;
  ceil.raw_read_4t_gbps = four.gbps;
  ceil.raw_read_gbps = std::max(one.gbps, four.gbps);
  ceil.raw_read_direct = one.direct;

  // Pinned → device: the best single copy, of kCopyProbeBytes or of one layer's size.
  {
    STRATA_ASSIGN_OR_RETURN(DeviceBuffer pinned, backend.AllocatePinned(kCopyProbeBytes));
    STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(kCopyProbeBytes));
    std::fill_n(pinned.get(), kCopyProbeBytes, std::byte{0x5A});
    const std::unique_ptr<BackendEvent> start = backend.CreateEvent(), end = backend.CreateEvent();
    const size_t layer = std::min(kCopyProbeBytes, static_cast<size_t>(r.layer_bytes)) & ~size_t{4095};
    for (const size_t bytes : {kCopyProbeBytes, layer}) {
      for (int32_t i = 0; i <= o.iters; ++i) {
        backend.RecordEvent(*start, Stream::kCopy);
        backend.CopyToDeviceAsync(device.get(), pinned.get(), bytes, Stream::kCopy);
        backend.RecordEvent(*end, Stream::kCopy);
        backend.WaitEvent(*end);
        const double gbps = static_cast<double>(bytes) / (backend.ElapsedMs(*start, *end) * 1e-3) / 1e9;
        if (i > 0) ceil.pinned_copy_gbps = std::max(ceil.pinned_copy_gbps, gbps);
      }
    }
  }

  const bool device = backend.caps().memory_bytes != 0;
  STRATA_ASSIGN_OR_RETURN(ceil.memory_read_gbps,
                          backend.ProbeReadGBps(device ? size_t{1} << 30 : size_t{256} << 20,
                                                o.iters));
  // The GEMM the prefill runs: fp8's peak for fp8 packs; int4 layers dequantise to bf16 tiles.
  const DType wdtype = pack.dtype() == PackDType::kFP8 ? DType::kF8E4M3 : DType::kBF16;
  ceil.gemm_weights = wdtype == DType::kF8E4M3 ? "fp8" : "bf16";
  const int64_t t = o.prefill_tokens, h = c.hidden_size, inter = c.intermediate_size;
  const int64_t sq = device ? 8192 : 1024;
  const int64_t shapes[][3] = {{t, inter, h}, {t, h, inter}, {sq, sq, sq}};
  for (const auto& s : shapes) {
    STRATA_ASSIGN_OR_RETURN(double tf, backend.ProbeGemmTflops(wdtype, s[0], s[1], s[2], o.iters));
    if (tf > ceil.gemm_tflops) {
      ceil.gemm_tflops = tf;
      ceil.gemm_shape = std::to_string(s[0]) + " x " + std::to_string(s[1]) + " x " + std::to_string(s[2]);
    }
  }
  return OkStatus();
}

// A pass of the pipelined run: the executor's stage timings and the host wall time of the
// whole forward (which also covers reads and copies the executor started before the pass
// began, for the next pass, while the previous one finished).
struct TimedPass {
  PassTiming timing;
  double wall_ms = 0;
};

// The time per layer against the slowest standalone stage of each layer's tier.
void SummarizePasses(const std::vector<TimedPass>& passes, const std::vector<Tier>& tiers,
                     const LayerBenchReport& r, double compute_ms, PipelineResult& out) {
  std::vector<double> walls;
  double overlap = 0, ssd = 0, h2d = 0, compute = 0;
  int64_t streamed = 0;
  for (const TimedPass& tp : passes) {
    const PassTiming& p = tp.timing;
    walls.push_back(tp.wall_ms);
    double bound = 0;
    for (size_t l = 0; l < p.layers.size(); ++l) {
      const LayerTiming& t = p.layers[l];
      bound += std::max({t.ssd_read_ms, t.h2d_ms, t.compute_ms});
      if (tiers[l] == Tier::kGpu) continue;
      ++streamed;
      ssd += t.ssd_read_ms;
      h2d += t.h2d_ms;
      compute += t.compute_ms;
    }
    overlap += bound / tp.wall_ms;
  }
  out.passes = static_cast<int32_t>(passes.size());
  out.pass_ms = Summarize(walls);
  const double n = static_cast<double>(tiers.size());
  out.achieved_ms_per_layer = out.pass_ms.mean / n;
  double predicted = 0;
  for (Tier tier : tiers) {
    double slowest = compute_ms;
    if (tier != Tier::kGpu) slowest = std::max(slowest, r.h2d.ms.mean);
    if (tier == Tier::kSsd) slowest = std::max(slowest, r.ssd.ms.mean);
    predicted += slowest;
  }
  out.predicted_ms_per_layer = predicted / n;
  out.ratio = out.achieved_ms_per_layer / out.predicted_ms_per_layer;
  out.overlap = overlap / static_cast<double>(passes.size());
  if (streamed > 0) {
    out.ssd_ms = ssd / static_cast<double>(streamed);
    out.h2d_ms = h2d / static_cast<double>(streamed);
    out.compute_ms = compute / static_cast<double>(streamed);
  }
}

// The verify-pass curve on the pipelined run's model: after decode_kv positions, passes of
// each size with a row of logits per token, the cache rolled back after each.
Status RunVerifyCurve(LlamaModel& model, const std::vector<int32_t>& ids,
                      const LayerBenchOptions& o, LayerBenchReport& r) {
  if (o.verify_tokens.empty()) return OkStatus();
  STRATA_ASSIGN_OR_RETURN(int32_t slot, AcquireSlot(model));
  Status st = RunTokens(model, slot, 0, ids.data(), o.decode_kv, nullptr);
  for (const int32_t tokens : o.verify_tokens) {
    std::vector<double> walls;
    for (int32_t p = 0; st.ok() && p <= o.pipeline_passes; ++p) {
      const auto start = std::chrono::steady_clock::now();
      st = RunTokens(model, slot, o.decode_kv, ids.data(), tokens, nullptr, LogitsMode::kAllTokens);
      if (st.ok() && p > 0) walls.push_back(MsSince(start));
      if (st.ok()) st = model.kv_cache().KeepRows(model.backend(), slot, o.decode_kv, {});
    }
    if (st.ok()) r.verify_curve.push_back({tokens, Summarize(walls)});
  }
  model.kv_cache().Release(slot);
  return st;
}

Status RunPipeline(Backend& backend, const std::string& dir, const LayerBenchOptions& o,
                   int32_t layers, const ModelConfig& config, LayerBenchReport& r) {
  STRATA_ASSIGN_OR_RETURN(PackModelOptions mo,
                          o.place(dir, layers, o.pipeline_tiers, EngineFor(o)));
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PackModel> pm, PackModel::Open(backend, dir, mo));
  LlamaModel& model = pm->model();
  const StreamingOptions& so = pm->executor().options();
  r.has_pipeline = true;
  r.pipeline_gpu_slots = pm->executor().gpu_slots();
  r.pipeline_staging_chunks = pm->executor().staging_chunks();
  r.pipeline_verified = so.verify_streamed;
  std::vector<Tier> tiers;
  for (const LayerHome& h : so.homes) {
    tiers.push_back(h.tier);
    (h.tier == Tier::kGpu ? r.pipeline_gpu : h.tier == Tier::kPinned ? r.pipeline_pinned
                                                                     : r.pipeline_ssd)++;
  }
  const std::vector<int32_t> ids = TokenIds(mo.engine.max_batch_tokens, config.vocab_size);
  std::vector<TimedPass> passes;
  for (int32_t p = 0; p <= o.pipeline_passes; ++p) {
    const auto start = std::chrono::steady_clock::now();
    STRATA_RETURN_IF_ERROR(RunPrefill(model, ids, o.prefill_tokens, nullptr));
    if (p > 0) passes.push_back({pm->executor().last_pass(), MsSince(start)});
  }
  SummarizePasses(passes, tiers, r, r.prefill.ms.mean, r.pipeline_prefill);
  passes.clear();
  STRATA_RETURN_IF_ERROR(RunDecode(model, ids, o.decode_kv, o.pipeline_passes, nullptr,
                                   [&](double ms) {
    passes.push_back({pm->executor().last_pass(), ms});
  }));
  SummarizePasses(passes, tiers, r, r.decode.ms.mean, r.pipeline_decode);
  return RunVerifyCurve(model, ids, o, r);
}

Status CheckOptions(const LayerBenchOptions& o) {
  const bool verify_ok = std::all_of(o.verify_tokens.begin(), o.verify_tokens.end(),
                                     [](int32_t t) { return t >= 1 && t <= kMaxTreeRows + 1; });
  if (!verify_ok) {
    return InvalidArgument("--verify-tokens must be from 1 to " + std::to_string(kMaxTreeRows + 1) +
                           " (a tree and its root)");
  }
  if (o.prefill_tokens < 1 || o.decode_kv < 1 || o.iters < 1 || o.compute_layers < 1 ||
      o.pipeline_passes < 0 || o.layers == 0 || o.layers < -1 || !o.place) {
    return InvalidArgument(
        "bench options out of range: prefill tokens, decode KV, iterations and compute layers "
        "must be >= 1; layers >= 1 (or all); passes >= 0; a placement callback is required");
  }
  return OkStatus();
}

}  // namespace

StatusOr<LayerBenchReport> RunLayerBench(Backend& backend, const std::string& pack_dir,
                                         const LayerBenchOptions& options) {
  STRATA_RETURN_IF_ERROR(CheckOptions(options));
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(pack_dir));
  const ModelConfig& config = pack.config();
  const int32_t pack_layers = static_cast<int32_t>(config.num_layers);
  const int32_t layers = options.layers < 0 ? pack_layers : options.layers;
  if (layers > pack_layers) {
    return InvalidArgument("--layers " + std::to_string(layers) + " is more than the " +
                           std::to_string(pack_layers) + " layers of pack " + pack_dir);
  }
  LayerBenchReport r;
  r.options = options;
  r.pack_dir = pack.dir();
  r.source = pack.source();
  r.dtype = std::string(PackDTypeName(pack.dtype()));
  r.backend = backend.caps().name;
  r.layers = layers;
  r.model = "hidden " + std::to_string(config.hidden_size) + ", " +
            std::to_string(config.num_heads) + " heads / " + std::to_string(config.num_kv_heads) +
            " KV, MLP " + std::to_string(config.intermediate_size);
  double total = 0;
  for (int32_t l = 0; l < layers; ++l) total += static_cast<double>(pack.layer_extent(l).bytes);
  r.layer_bytes = total / layers;

  STRATA_RETURN_IF_ERROR(MeasureCompute(backend, pack_dir, options, layers, config, r));
  STRATA_RETURN_IF_ERROR(MeasureTransfers(backend, pack, options, layers, r));
  STRATA_RETURN_IF_ERROR(MeasureCeilings(backend, pack, options, layers, config, r));
  const Ceilings& c = r.ceilings;
  r.prefill.of_ceiling = r.prefill.tflops / c.gemm_tflops;
  r.decode.of_ceiling = (r.layer_bytes / (c.memory_read_gbps * 1e9) * 1e3) / r.decode.ms.mean;
  r.h2d.of_ceiling = r.h2d.gbps / c.pinned_copy_gbps;
  r.ssd.of_ceiling = r.ssd.gbps / c.raw_read_gbps;
  r.prefill_overlap = AnalyzeOverlap(r.prefill.ms.mean, r.h2d.ms.mean, r.ssd.ms.mean);
  r.decode_overlap = AnalyzeOverlap(r.decode.ms.mean, r.h2d.ms.mean, r.ssd.ms.mean);
  if (options.pipeline_passes > 0) {
    STRATA_RETURN_IF_ERROR(RunPipeline(backend, pack_dir, options, layers, config, r));
  }
  return r;
}

}  // namespace strata
