// PlaceStage and its rules (see placement.h).
#include "common/plan/placement.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/storage/pack_format.h"
#include "common/util/byte_size.h"

namespace strata {
namespace {

size_t AlignDown(size_t bytes) { return bytes / kPackAlignment * kPackAlignment; }

// A placement before its memory is added up: the choices only.
struct Choice {
  int32_t gpu_layers = 0;
  int32_t pinned_layers = 0;
  size_t spread_pinned_bytes = 0;
  int32_t gpu_slots = 0;
  int32_t staging_chunks = 0;
  bool embed_on_gpu = false;
};

Placement Tally(const StageShape& s, const Choice& c) {
  Placement p;
  p.layers = s.layers;
  p.layer_bytes = s.layer_bytes;
  p.gpu_layers = c.gpu_layers;
  p.pinned_layers = c.pinned_layers;
  p.spread_pinned_bytes = c.spread_pinned_bytes;
  p.gpu_slots = p.streamed_layers() > 0 ? std::min(c.gpu_slots, p.streamed_layers()) : 0;
  p.staging_chunks = c.staging_chunks;
  p.embed_on_gpu = c.embed_on_gpu && s.embed_bytes > 0;
  const auto layers = [&](int32_t n) { return static_cast<size_t>(n) * s.layer_bytes; };
  p.gpu.layers = layers(p.gpu_layers);
  p.gpu.staging = layers(p.gpu_slots);
  p.gpu.ends = s.head_bytes + (p.embed_on_gpu ? s.embed_bytes : 0);
  p.gpu.runtime = s.runtime_gpu_bytes;
  p.pinned.layers = layers(p.pinned_layers) + p.spread_pinned_bytes;
  p.pinned.staging = static_cast<size_t>(p.staging_chunks) * p.chunk_bytes;
  p.pinned.runtime = s.embed_bytes > 0 && !p.embed_on_gpu ? s.embed_gather_bytes : 0;
  return p;
}

// Whether anything is loaded to the GPU through the staging ring at start-up or read from
// the SSD every pass: then the ring needs at least one chunk.
bool NeedsRing(const StageShape& s, const Choice& c) {
  return c.gpu_layers > 0 || s.head_bytes > 0 || c.embed_on_gpu ||
         c.gpu_layers + c.pinned_layers < s.layers;
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

// The candidate for `slots` GPU slots and the embedding on the GPU or not, filling each
// budget by the rules and the overrides; nullopt when it does not fit.
std::optional<Placement> Fill(const StageShape& s, const WorkerSpec& w,
                              const PlacementOverrides& o, int32_t slots, bool embed_on_gpu) {
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
  const size_t gather = s.embed_bytes > 0 && !embed_on_gpu ? s.embed_gather_bytes : 0;
  const size_t chunk = kStagingChunkBytes;
  if (o.pinned_layers >= 0 || o.force_tier) {
    c.pinned_layers = o.pinned_layers >= 0 ? o.pinned_layers
                      : *o.force_tier == Tier::kPinned ? streamed : 0;
  } else if (static_cast<size_t>(streamed) * s.layer_bytes + gather +
                 (c.gpu_layers > 0 || s.head_bytes > 0 || embed_on_gpu ? chunk : 0) <=
             w.pinned_mem) {
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
      const size_t held = static_cast<size_t>(c.pinned_layers) * s.layer_bytes + gather;
      const size_t room = w.pinned_mem > held ? (w.pinned_mem - held) / chunk : 0;
      const int32_t want = StagingChunks(w, s.layer_bytes, std::min(slots, streamed));
      c.staging_chunks =
          static_cast<int32_t>(std::clamp<size_t>(room, 1, static_cast<size_t>(want)));
    }
  }
  const size_t pinned_fixed =
      static_cast<size_t>(c.pinned_layers) * s.layer_bytes + gather +
      static_cast<size_t>(c.staging_chunks) * chunk;
  if (pinned_fixed > w.pinned_mem) return std::nullopt;
  const bool spread = ssd > 0 && o.pinned_layers < 0 && !o.force_tier;
  if (spread) {
    const size_t most = static_cast<size_t>(ssd) * (s.layer_bytes - kPackAlignment);
    c.spread_pinned_bytes = std::min(AlignDown(w.pinned_mem - pinned_fixed), most);
  }
  return Tally(s, c);
}

// Adds `count` streamed layers with `ssd_bytes` read from the SSD to `p`; returns the time of
// one, and in *pace the stage that sets it. With one GPU slot a layer's copy and compute take
// turns, so they pace together (counted as the copy).
double AddStreamed(const WorkerSpec& w, const Placement& placement, size_t ssd_bytes,
                   double compute_ms, double count, PassPrediction* p, Stage* pace) {
  const double ssd = ssd_bytes > 0 ? TransferMs(ssd_bytes, w.ssd_gbps) : 0;
  const double h2d = TransferMs(placement.layer_bytes, w.h2d_gbps);
  const double copy = placement.gpu_slots == 1 ? h2d + compute_ms : h2d;
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

size_t Placement::ssd_bytes_per_pass() const {
  return static_cast<size_t>(ssd_layers()) * layer_bytes - spread_pinned_bytes;
}

size_t SpreadPrefix(size_t total, int32_t ssd_layers, int32_t i, size_t layer_bytes) {
  if (ssd_layers <= 0) return 0;
  const size_t pages = total / kPackAlignment;
  const size_t n = static_cast<size_t>(ssd_layers);
  const size_t mine = pages / n + (static_cast<size_t>(i) < pages % n ? 1 : 0);
  return std::min(mine * kPackAlignment, layer_bytes - kPackAlignment);
}

std::vector<LayerHome> Placement::homes() const {
  std::vector<LayerHome> h(static_cast<size_t>(layers));
  for (int32_t l = 0; l < layers; ++l) {
    LayerHome& home = h[static_cast<size_t>(l)];
    if (l < gpu_layers) {
      home.tier = Tier::kGpu;
    } else if (l < gpu_layers + pinned_layers) {
      home.tier = Tier::kPinned;
    } else {
      home.tier = Tier::kSsd;
      home.pinned_bytes = SpreadPrefix(spread_pinned_bytes, ssd_layers(),
                                       l - gpu_layers - pinned_layers, layer_bytes);
    }
  }
  return h;
}

int32_t StagingChunks(const WorkerSpec& worker, size_t layer_bytes, int32_t gpu_slots) {
  const double blocked_ms =
      TransferMs(layer_bytes, worker.h2d_gbps) + (gpu_slots == 1 ? worker.decode_ms : 0);
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
  const auto add = [&](size_t ssd_bytes, int32_t count) {
    if (count <= 0) return;
    Stage pace = Stage::kCompute;
    const double ms = AddStreamed(worker, p, ssd_bytes, c, count, &out, &pace);
    paced[static_cast<size_t>(pace)] += count * ms;
    out.ms += count * ms;
  };
  // GPU layers compute only.
  out.compute_ms += p.gpu_layers * c;
  out.serial_ms += p.gpu_layers * c;
  out.ms += p.gpu_layers * c;
  paced[static_cast<size_t>(Stage::kCompute)] += p.gpu_layers * c;
  add(0, p.pinned_layers);
  const int32_t ssd = p.ssd_layers();
  if (ssd > 0) {
    // Spread prefixes come in two sizes, a page apart: the first `n_large` layers' is larger.
    const size_t pages = p.spread_pinned_bytes / kPackAlignment;
    const auto n_large = static_cast<int32_t>(pages % static_cast<size_t>(ssd));
    add(p.layer_bytes - SpreadPrefix(p.spread_pinned_bytes, ssd, 0, p.layer_bytes), n_large);
    add(p.layer_bytes - SpreadPrefix(p.spread_pinned_bytes, ssd, ssd - 1, p.layer_bytes),
        ssd - n_large);
  }
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
  if (shape.layers < 1 || shape.layer_bytes == 0 || shape.layer_bytes % kPackAlignment != 0) {
    return InvalidArgument("a stage needs at least one layer of a positive multiple of " +
                           std::to_string(kPackAlignment) + " bytes");
  }
  STRATA_RETURN_IF_ERROR(CheckOverrides(shape, o));
  std::vector<int32_t> slot_options = {1, 2};
  if (o.prefetch_h2d >= 0) slot_options = {o.prefetch_h2d + 1};
  std::optional<Placement> best;
  for (bool embed_on_gpu : {false, true}) {
    if (embed_on_gpu && shape.embed_bytes == 0) continue;
    for (int32_t slots : slot_options) {
      std::optional<Placement> p = Fill(shape, worker, o, slots, embed_on_gpu);
      if (p && (!best || Better(*p, *best, worker, workload))) best = p;
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
  s.layer_bytes = (m.layer_bytes + kPackAlignment - 1) / kPackAlignment * kPackAlignment;
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
