// PlaceStage and its rules (see placement.h).
#include "common/plan/placement.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/storage/pack_format.h"
#include "common/util/byte_size.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

size_t AlignDown(size_t bytes) { return bytes / kDirectIoAlignment * kDirectIoAlignment; }

// A placement before its memory is added up: the choices only.
struct Choice {
  int32_t gpu_layers = 0;
  int32_t pinned_layers = 0;
  size_t spread_pinned_bytes = 0;
  size_t gpu_prefix_bytes = 0;
  int32_t gpu_prefix_layers = 0;
  int32_t gpu_slots = 0;
  int32_t staging_chunks = 0;
  bool embed_on_gpu = false;
};

// Bytes off the GPU of streamed layers [from, to), counted from the first streamed layer,
// when the first `prefixed` of them keep `prefix` bytes on the GPU.
size_t OffGpuBytes(size_t layer_bytes, size_t prefix, int32_t prefixed, int32_t from, int32_t to) {
  const int32_t with_prefix = std::max(0, std::min(to, prefixed) - from);
  return static_cast<size_t>(to - from) * layer_bytes -
         static_cast<size_t>(with_prefix) * prefix;
}

// A GPU slot holds a streamed layer's bytes off the GPU: less the prefix only when every one
// of the `streamed` layers keeps it.
size_t SlotBytes(size_t layer_bytes, size_t prefix, int32_t prefixed, int32_t streamed) {
  return layer_bytes - (prefixed > 0 && prefixed == streamed ? prefix : 0);
}

// How SpreadPrefix places `total` pinned bytes over `ssd` layers, the first `prefixed` of
// them with `gpu_prefix` bytes on the GPU: `lift` pages on each layer without the prefix,
// then `level` pages on each of the layers from `from` on, and one more on those in
// [from, extra_end).
struct SpreadShape {
  size_t lift = 0;
  int32_t from = 0;
  size_t level = 0;
  int32_t extra_end = 0;
};

SpreadShape ShapeSpread(size_t total, int32_t ssd, int32_t prefixed, size_t gpu_prefix) {
  const size_t pages = total / kDirectIoAlignment;
  const auto plain = static_cast<size_t>(ssd - prefixed);
  const size_t lift = gpu_prefix / kDirectIoAlignment;
  if (pages < plain * lift) {  // short of the lift: only the layers without the prefix get any
    return {0, prefixed, pages / plain, prefixed + static_cast<int32_t>(pages % plain)};
  }
  const size_t level = pages - plain * lift;
  const auto n = static_cast<size_t>(ssd);
  return {lift, 0, level / n, static_cast<int32_t>(level % n)};
}

// Calls fn(home, count) for `p`'s streamed layers in layer order, grouped into at most five
// runs of equal homes: the pinned layers with and without the GPU prefix, then the SSD layers
// cut where the prefix ends and where the spread's extra page ends.
template <typename Fn>
void ForEachStreamedRun(const Placement& p, const Fn& fn) {
  const size_t prefix = p.gpu_prefix_bytes;
  const int32_t pinned_prefixed = std::min(p.gpu_prefix_layers, p.pinned_layers);
  if (pinned_prefixed > 0) fn(LayerHome{Tier::kPinned, prefix, 0}, pinned_prefixed);
  if (p.pinned_layers > pinned_prefixed) {
    fn(LayerHome{Tier::kPinned, 0, 0}, p.pinned_layers - pinned_prefixed);
  }
  const int32_t ssd = p.ssd_layers();
  if (ssd <= 0) return;
  const int32_t prefixed = std::clamp(p.gpu_prefix_layers - p.pinned_layers, 0, ssd);
  std::array<int32_t, 4> cuts = {
      0, prefixed, ShapeSpread(p.spread_pinned_bytes, ssd, prefixed, prefix).extra_end, ssd};
  std::sort(cuts.begin(), cuts.end());
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    if (cuts[i] == cuts[i + 1]) continue;
    const size_t gpu = cuts[i] < prefixed ? prefix : 0;
    fn(LayerHome{Tier::kSsd, gpu,
                 SpreadPrefix(p.spread_pinned_bytes, ssd, cuts[i], p.layer_bytes, prefixed,
                              prefix)},
       cuts[i + 1] - cuts[i]);
  }
}

// The bytes of the streamed layers' homes by where they live between passes.
struct StreamedBytes {
  size_t pinned = 0;  // pinned layers less their prefixes, and the SSD layers' pinned parts
  size_t ssd = 0;     // read from the SSD every pass
};

StreamedBytes CountStreamed(const Placement& p) {
  StreamedBytes b;
  ForEachStreamedRun(p, [&](const LayerHome& h, int32_t count) {
    const size_t off_gpu = p.layer_bytes - h.gpu_bytes;
    const size_t pinned = h.tier == Tier::kPinned ? off_gpu : h.pinned_bytes;
    b.pinned += static_cast<size_t>(count) * pinned;
    b.ssd += static_cast<size_t>(count) * (off_gpu - pinned);
  });
  return b;
}

Placement Tally(const StageShape& s, const Choice& c) {
  Placement p;
  p.layers = s.layers;
  p.layer_bytes = s.layer_bytes;
  p.gpu_layers = c.gpu_layers;
  p.pinned_layers = c.pinned_layers;
  p.spread_pinned_bytes = c.spread_pinned_bytes;
  p.gpu_prefix_layers = c.gpu_prefix_layers;
  p.gpu_prefix_bytes = c.gpu_prefix_layers > 0 ? c.gpu_prefix_bytes : 0;
  p.gpu_slots = p.streamed_layers() > 0 ? std::min(c.gpu_slots, p.streamed_layers()) : 0;
  p.staging_chunks = c.staging_chunks;
  p.embed_on_gpu = c.embed_on_gpu && s.embed_bytes > 0;
  p.gpu.layers = static_cast<size_t>(p.gpu_layers) * s.layer_bytes +
                 static_cast<size_t>(p.gpu_prefix_layers) * p.gpu_prefix_bytes;
  p.gpu.staging = static_cast<size_t>(p.gpu_slots) * p.slot_bytes();
  p.gpu.ends = s.head_bytes + (p.embed_on_gpu ? s.embed_bytes : 0);
  p.gpu.runtime = s.runtime_gpu_bytes;
  p.pinned.layers = CountStreamed(p).pinned;
  p.pinned.staging = static_cast<size_t>(p.staging_chunks) * p.chunk_bytes;
  p.pinned.runtime = s.embed_bytes > 0 && !p.embed_on_gpu ? s.embed_gather_bytes : 0;
  return p;
}

// Whether anything is loaded to the GPU through the staging ring at start-up: whole layers,
// GPU prefixes, the ends.
bool Loads(const StageShape& s, const Choice& c) {
  return c.gpu_layers > 0 || c.gpu_prefix_layers > 0 || s.head_bytes > 0 || c.embed_on_gpu;
}

// Whether anything is loaded or read from the SSD every pass: then the ring needs at least
// one chunk.
bool NeedsRing(const StageShape& s, const Choice& c) {
  return Loads(s, c) || c.gpu_layers + c.pinned_layers < s.layers;
}

// The GPU prefix that keeps the most bytes on the GPU within `leftover`: split point P on
// the first k of the `streamed` layers costs k × P, less P for each of the `slots` when k is
// every streamed layer (the slots then hold only the rest of a layer); ties go to fewer
// layers.
void ChoosePrefix(const StageShape& s, int32_t streamed, int32_t slots, size_t leftover,
                  Choice* c) {
  size_t best = 0;
  for (const size_t p : s.split_points) {
    auto k = static_cast<int32_t>(std::min(static_cast<size_t>(streamed), leftover / p));
    if (static_cast<size_t>(streamed - slots) * p <= leftover) k = streamed;
    const size_t kept = static_cast<size_t>(k) * p;
    if (kept > best || (kept == best && k < c->gpu_prefix_layers)) {
      best = kept;
      c->gpu_prefix_bytes = p;
      c->gpu_prefix_layers = k;
    }
  }
}

// Ring chunks that hold `prefetch_ssd` layers' reads (at least one).
int32_t RingForPrefetch(int32_t prefetch_ssd, size_t layer_bytes) {
  const size_t bytes = static_cast<size_t>(prefetch_ssd) * layer_bytes;
  return std::max<int32_t>(
      1, static_cast<int32_t>((bytes + kStagingChunkBytes - 1) / kStagingChunkBytes));
}

Status CheckOverrides(const StageShape& s, const PlacementOverrides& o) {
  const auto bad = [](const std::string& what) { return InvalidArgument(what); };
  if (o.gpu_layers > s.layers || o.pinned_layers > s.layers ||
      std::max(o.gpu_layers, 0) + std::max(o.pinned_layers, 0) > s.layers) {
    return bad("--gpu-layers " + std::to_string(std::max(o.gpu_layers, 0)) +
               " plus --pinned-layers " + std::to_string(std::max(o.pinned_layers, 0)) +
               " is more than the " + std::to_string(s.layers) + " layers this stage runs");
  }
  if (o.gpu_layers < -1 || o.pinned_layers < -1 || o.prefetch_ssd < -1 || o.prefetch_h2d < -1) {
    return bad("layer counts and prefetch distances must be >= 0 (or left to be chosen)");
  }
  if (o.prefetch_ssd > 1024 || o.prefetch_h2d > 1024) {
    return bad("prefetch distances above 1024 layers are not meaningful");
  }
  if (o.force_tier && (o.gpu_layers >= 0 || o.pinned_layers >= 0)) {
    return bad("a forced tier and layer counts contradict each other; give one");
  }
  return OkStatus();
}

// The candidate for `slots` GPU slots, the embedding on the GPU or not and GPU prefixes or
// not, filling each budget by the rules and the overrides; nullopt when it does not fit (or,
// asked for prefixes, when there are none to place: the candidate without them is that one).
std::optional<Placement> Fill(const StageShape& s, const WorkerSpec& w,
                              const PlacementOverrides& o, int32_t slots, bool embed_on_gpu,
                              bool prefixes) {
  Choice c;
  c.gpu_slots = slots;
  c.embed_on_gpu = embed_on_gpu;
  const size_t gpu_fixed = s.runtime_gpu_bytes + s.head_bytes + (embed_on_gpu ? s.embed_bytes : 0);
  const auto gpu_total = [&](int32_t g) {
    const int32_t streamed = s.layers - g;
    return gpu_fixed + static_cast<size_t>(g + std::min(streamed, slots)) * s.layer_bytes;
  };
  if (o.gpu_layers >= 0) {
    c.gpu_layers = o.gpu_layers;
  } else if (o.force_tier) {
    c.gpu_layers = *o.force_tier == Tier::kGpu ? s.layers : 0;
  } else {
    c.gpu_layers = s.layers - std::max(o.pinned_layers, 0);  // beside the pinned ones asked for
    while (c.gpu_layers > 0 && gpu_total(c.gpu_layers) > w.gpu_mem) --c.gpu_layers;
  }
  if (gpu_total(c.gpu_layers) > w.gpu_mem) return std::nullopt;
  // The embedding table on the GPU competes like any other choice: it wins when the pinned
  // bytes it frees (the gather buffer) predict faster than the GPU layers it displaces, or
  // when nothing else fits; on ties it stays on the host (Better: fewer GPU bytes).

  const int32_t streamed = s.layers - c.gpu_layers;
  if (prefixes) {
    // They spend the GPU memory the whole layers and slots leave; not when the GPU's layers
    // are given or a tier is forced.
    if (o.gpu_layers >= 0 || o.force_tier) return std::nullopt;
    ChoosePrefix(s, streamed, std::min(slots, streamed), w.gpu_mem - gpu_total(c.gpu_layers),
                 &c);
    if (c.gpu_prefix_layers == 0) return std::nullopt;
  }
  const auto off_gpu = [&](int32_t from, int32_t to) {
    return OffGpuBytes(s.layer_bytes, c.gpu_prefix_bytes, c.gpu_prefix_layers, from, to);
  };
  const size_t gather = s.embed_bytes > 0 && !embed_on_gpu ? s.embed_gather_bytes : 0;
  const size_t chunk = kStagingChunkBytes;
  if (o.pinned_layers >= 0 || o.force_tier) {
    c.pinned_layers = o.pinned_layers >= 0 ? o.pinned_layers
                      : *o.force_tier == Tier::kPinned ? streamed : 0;
  } else if (off_gpu(0, streamed) + gather + (Loads(s, c) ? chunk : 0) <= w.pinned_mem) {
    c.pinned_layers = streamed;
  }
  const int32_t ssd = streamed - c.pinned_layers;
  if (NeedsRing(s, c)) {
    c.staging_chunks = 1;
    if (ssd > 0 && o.prefetch_ssd >= 0) {
      c.staging_chunks = RingForPrefetch(o.prefetch_ssd, s.layer_bytes);
    } else if (ssd > 0) {
      // A shorter ring only lets the disk idle while the copy path is blocked: shrink it to
      // the pinned memory left (down to one chunk) rather than refuse the stage.
      const size_t held = off_gpu(0, c.pinned_layers) + gather;
      const size_t room = w.pinned_mem > held ? (w.pinned_mem - held) / chunk : 0;
      const size_t copy =
          SlotBytes(s.layer_bytes, c.gpu_prefix_bytes, c.gpu_prefix_layers, streamed);
      const int32_t want = StagingChunks(w, copy, std::min(slots, streamed));
      c.staging_chunks =
          static_cast<int32_t>(std::clamp<size_t>(room, 1, static_cast<size_t>(want)));
    }
  }
  const size_t pinned_fixed =
      off_gpu(0, c.pinned_layers) + gather + static_cast<size_t>(c.staging_chunks) * chunk;
  if (pinned_fixed > w.pinned_mem) return std::nullopt;
  const bool spread = ssd > 0 && o.pinned_layers < 0 && !o.force_tier;
  if (spread) {
    // Every SSD layer keeps a page to read.
    const size_t most =
        off_gpu(c.pinned_layers, streamed) - static_cast<size_t>(ssd) * kDirectIoAlignment;
    c.spread_pinned_bytes = std::min(AlignDown(w.pinned_mem - pinned_fixed), most);
  }
  return Tally(s, c);
}

// Adds `count` streamed layers that each copy `copy_bytes` and read `ssd_bytes` of them from
// the SSD to `p`; returns the time of one, and in *pace the stage that sets it. With one GPU
// slot a layer's copy and compute take turns, so they pace together (counted as the copy).
double AddStreamed(const WorkerSpec& w, int32_t gpu_slots, size_t copy_bytes, size_t ssd_bytes,
                   double compute_ms, double count, PassPrediction* p, Stage* pace) {
  const double ssd = ssd_bytes > 0 ? TransferMs(ssd_bytes, w.ssd_gbps) : 0;
  const double h2d = TransferMs(copy_bytes, w.h2d_gbps);
  const double copy = gpu_slots == 1 ? h2d + compute_ms : h2d;
  p->ssd_ms += count * ssd;
  p->h2d_ms += count * h2d;
  p->compute_ms += count * compute_ms;
  p->serial_ms += count * (ssd + h2d + compute_ms);
  if (ssd >= copy && ssd >= compute_ms) {
    *pace = Stage::kSsd;
    return ssd;
  }
  *pace = copy >= compute_ms ? Stage::kH2d : Stage::kCompute;
  return std::max(copy, compute_ms);
}

bool Better(const Placement& a, const Placement& b, const WorkerSpec& w,
            const WorkloadSpec& load) {
  const double da = PredictPass(a, w, load, Phase::kDecode).ms;
  const double db = PredictPass(b, w, load, Phase::kDecode).ms;
  if (std::abs(da - db) > 1e-9 * std::max(da, db)) return da < db;
  const double pa = PredictPass(a, w, load, Phase::kPrefill).ms;
  const double pb = PredictPass(b, w, load, Phase::kPrefill).ms;
  if (std::abs(pa - pb) > 1e-9 * std::max(pa, pb)) return pa < pb;
  // Equal predictions: the embedding on the GPU spares every step the host gather (not in
  // the model); else fewer GPU bytes.
  if (a.embed_on_gpu != b.embed_on_gpu) return a.embed_on_gpu;
  return a.gpu.total() < b.gpu.total();
}

std::string MinimumMessage(const StageShape& s, const WorkerSpec& w) {
  const size_t gpu_min = s.runtime_gpu_bytes + s.head_bytes + s.layer_bytes;
  const size_t pinned_min = (s.embed_bytes > 0 ? s.embed_gather_bytes : 0) + kStagingChunkBytes;
  std::string text = "the stage's " + std::to_string(s.layers) +
                     (s.layers == 1 ? " layer does" : " layers do") +
                     " not fit: the GPU budget must be at least " + FormatByteSize(gpu_min) +
                     " (KV cache, activations and workspace " + FormatByteSize(s.runtime_gpu_bytes);
  if (s.head_bytes > 0) text += ", LM head and final norm " + FormatByteSize(s.head_bytes);
  text += ", one GPU staging slot " + FormatByteSize(s.layer_bytes) + "; given " +
          FormatByteSize(w.gpu_mem) + ") and the pinned budget at least " +
          FormatByteSize(pinned_min) + " (one staging chunk";
  if (s.embed_bytes > 0) text += ", the embedding gather buffer";
  text += "; given " + FormatByteSize(w.pinned_mem) +
          "); raise --gpu-mem / --pinned-mem, or shorten the context or batch (fewer KV "
          "tokens, smaller --max-batch-tokens)";
  return text;
}

// Why the placement the overrides ask for does not fit: the least each budget must be for
// it (the rest streamed from the SSD, one GPU slot, a ring of one chunk unless asked).
std::string OverrideMessage(const StageShape& s, const WorkerSpec& w,
                            const PlacementOverrides& o) {
  Choice c;
  c.gpu_layers = o.gpu_layers >= 0 ? o.gpu_layers : o.force_tier == Tier::kGpu ? s.layers : 0;
  c.pinned_layers = o.pinned_layers >= 0              ? o.pinned_layers
                    : o.force_tier == Tier::kPinned ? s.layers - c.gpu_layers
                                                    : 0;
  c.gpu_slots = std::max(o.prefetch_h2d, 0) + 1;
  if (NeedsRing(s, c)) {
    c.staging_chunks = c.gpu_layers + c.pinned_layers < s.layers && o.prefetch_ssd >= 0
                           ? RingForPrefetch(o.prefetch_ssd, s.layer_bytes)
                           : 1;
  }
  const Placement least = Tally(s, c);
  std::string asked;
  const auto add = [&](const std::string& part) { asked += (asked.empty() ? "" : ", ") + part; };
  if (o.gpu_layers >= 0) add("--gpu-layers " + std::to_string(o.gpu_layers));
  if (o.pinned_layers >= 0) add("--pinned-layers " + std::to_string(o.pinned_layers));
  if (o.force_tier) add("every layer in " + std::string(TierName(*o.force_tier)));
  if (o.prefetch_ssd >= 0) add("--prefetch-ssd " + std::to_string(o.prefetch_ssd));
  if (o.prefetch_h2d >= 0) add("--prefetch-h2d " + std::to_string(o.prefetch_h2d));
  return "the stage's " + std::to_string(s.layers) +
         (s.layers == 1 ? " layer does" : " layers do") + " not fit as asked (" + asked + "): then the GPU budget must be at least " +
         FormatByteSize(least.gpu.total()) + " (given " + FormatByteSize(w.gpu_mem) +
         ") and the pinned budget at least " + FormatByteSize(least.pinned.total()) +
         " (given " + FormatByteSize(w.pinned_mem) +
         "); ask for less, or raise --gpu-mem / --pinned-mem";
}

}  // namespace

size_t Placement::slot_bytes() const {
  return SlotBytes(layer_bytes, gpu_prefix_bytes, gpu_prefix_layers, streamed_layers());
}

size_t Placement::ssd_bytes_per_pass() const { return CountStreamed(*this).ssd; }

size_t SpreadPrefix(size_t total, int32_t ssd_layers, int32_t i, size_t layer_bytes,
                    int32_t prefixed, size_t gpu_prefix) {
  if (ssd_layers <= 0) return 0;
  const SpreadShape spread = ShapeSpread(total, ssd_layers, prefixed, gpu_prefix);
  const bool has_prefix = i < prefixed;
  size_t pages = has_prefix ? 0 : spread.lift;
  if (i >= spread.from) pages += spread.level + (i < spread.extra_end ? 1 : 0);
  const size_t off_gpu = layer_bytes - (has_prefix ? gpu_prefix : 0);
  return std::min(pages * kDirectIoAlignment, off_gpu - kDirectIoAlignment);
}

std::vector<LayerHome> Placement::homes() const {
  std::vector<LayerHome> h(static_cast<size_t>(gpu_layers), LayerHome{Tier::kGpu, 0, 0});
  ForEachStreamedRun(*this, [&](const LayerHome& home, int32_t count) {
    h.insert(h.end(), static_cast<size_t>(count), home);
  });
  return h;
}

int32_t StagingChunks(const WorkerSpec& worker, size_t copy_bytes, int32_t gpu_slots) {
  const double blocked_ms =
      TransferMs(copy_bytes, worker.h2d_gbps) + (gpu_slots == 1 ? worker.decode_ms : 0);
  const double bytes = worker.ssd_gbps * 1e6 * blocked_ms;
  const double chunks = std::ceil(bytes / static_cast<double>(kStagingChunkBytes));
  return static_cast<int32_t>(
      std::clamp(chunks + kStagingChunksInFlight, 1.0, double{kMaxStagingChunks}));
}

PassPrediction PredictPass(const Placement& p, const WorkerSpec& worker,
                           const WorkloadSpec& workload, Phase phase) {
  PassPrediction out;
  const double c = ComputeMs(worker, workload, phase);
  std::array<double, 3> paced{};  // pass time by the stage that paces it
  // GPU layers compute only.
  out.compute_ms += p.gpu_layers * c;
  out.serial_ms += p.gpu_layers * c;
  out.ms += p.gpu_layers * c;
  paced[static_cast<size_t>(Stage::kCompute)] += p.gpu_layers * c;
  ForEachStreamedRun(p, [&](const LayerHome& h, int32_t count) {
    const size_t copy = p.layer_bytes - h.gpu_bytes;
    const size_t read = h.tier == Tier::kSsd ? copy - h.pinned_bytes : 0;
    Stage pace = Stage::kCompute;
    const double ms = AddStreamed(worker, p.gpu_slots, copy, read, c, count, &out, &pace);
    paced[static_cast<size_t>(pace)] += count * ms;
    out.ms += count * ms;
  });
  out.bottleneck = Stage::kCompute;
  for (Stage s : {Stage::kH2d, Stage::kSsd}) {
    if (paced[static_cast<size_t>(s)] > paced[static_cast<size_t>(out.bottleneck)]) {
      out.bottleneck = s;
    }
  }
  return out;
}

StatusOr<Placement> PlaceStage(const StageShape& shape, const WorkerSpec& worker,
                               const WorkloadSpec& workload, const PlacementOverrides& o) {
  if (shape.layers < 1 || shape.layer_bytes == 0 || shape.layer_bytes % kDirectIoAlignment != 0) {
    return InvalidArgument("a stage needs at least one layer of a positive multiple of " +
                           std::to_string(kDirectIoAlignment) + " bytes");
  }
  STRATA_RETURN_IF_ERROR(ValidateSplitPoints(shape.split_points, shape.layer_bytes)
                             .WithContext("the stage's layer split points"));
  STRATA_RETURN_IF_ERROR(CheckOverrides(shape, o));
  std::vector<int32_t> slot_options = {1, 2};
  if (o.prefetch_h2d >= 0) slot_options = {o.prefetch_h2d + 1};
  std::optional<Placement> best;
  for (bool embed_on_gpu : {false, true}) {
    if (embed_on_gpu && shape.embed_bytes == 0) continue;
    for (int32_t slots : slot_options) {
      for (bool prefixes : {false, true}) {
        std::optional<Placement> p = Fill(shape, worker, o, slots, embed_on_gpu, prefixes);
        if (p && (!best || Better(*p, *best, worker, workload))) best = p;
      }
    }
  }
  if (!best) {
    const bool asked = o.gpu_layers >= 0 || o.pinned_layers >= 0 || o.force_tier ||
                       o.prefetch_ssd >= 0 || o.prefetch_h2d >= 0;
    return ResourceExhausted(asked ? OverrideMessage(shape, worker, o)
                                   : MinimumMessage(shape, worker));
  }
  return *best;
}

StageShape StageShapeOf(const ClusterSpec& cluster, size_t w, int32_t layers) {
  const ModelSpec& m = cluster.model;
  const WorkloadSpec& load = cluster.workload;
  StageShape s;
  s.layers = layers;
  s.layer_bytes = (m.layer_bytes + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
  s.split_points = m.layer_split_points;
  if (w == 0) {
    s.embed_bytes = m.first_end_bytes;
    s.embed_gather_bytes =
        m.activation_bytes_per_token * static_cast<size_t>(load.prefill_chunk_tokens);
  }
  if (w + 1 == cluster.workers.size()) s.head_bytes = m.last_end_bytes;
  s.runtime_gpu_bytes =
      m.kv_bytes_per_token_per_layer * static_cast<size_t>(load.kv_tokens) *
          static_cast<size_t>(layers) +
      m.scratch_bytes_per_token * static_cast<size_t>(load.prefill_chunk_tokens) +
      m.scratch_fixed_bytes;
  return s;
}

}  // namespace strata
