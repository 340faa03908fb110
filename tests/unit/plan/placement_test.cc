// PlaceStage's rules over random stages and workers: every placement holds both budgets and
// adds up (counts, homes, memory, GPU prefixes at split points within the GPU memory the
// whole layers and slots leave); a refusal means that not even the smallest placement fits
// and says what each budget must be; the chosen placement is never slower than the naive
// whole-layer fills that fit the same budgets; overrides are honoured or refused clearly;
// GPU prefixes spend what whole layers leave of the GPU budget, shrinking the slots when
// every streamed layer has one; and the seed node (the Done criterion) keeps layers
// on its GPU and decodes a token in at most 2 s.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/plan/placement.h"
#include "common/plan/planner.h"
#include "common/plan/presets.h"
#include "tests/unit/plan/plan_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::kGiB;
using testing::kMiB;
using testing::SeedWorker;

constexpr size_t kPage = 4096;

// Draws from mt19937_64's raw output (the <random> distributions differ between standard
// libraries): the same cases everywhere.
class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  double Uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  }
  double LogUniform(double lo, double hi) {
    return std::exp(Uniform(std::log(lo), std::log(hi)));
  }
  size_t Bytes(double lo, double hi) { return static_cast<size_t>(LogUniform(lo, hi)); }
  int32_t Int(int32_t lo, int32_t hi) {
    return lo + static_cast<int32_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool Chance(double p) { return Uniform(0, 1) < p; }

 private:
  std::mt19937_64 rng_;
};

// 5..12 ascending split points of a layer of `layer_bytes`, in pages, below its end.
std::vector<size_t> RandomSplitPoints(Random& r, size_t layer_bytes) {
  const auto pages = static_cast<int32_t>(layer_bytes / kPage);
  std::vector<size_t> points;
  for (int32_t i = r.Int(5, 12); i > 0; --i) {
    points.push_back(static_cast<size_t>(r.Int(1, pages - 1)) * kPage);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  return points;
}

// Layers 1..80 of 1 MiB..2 GB (in pages), mostly with split points; ends, gather and runtime
// bytes random, often 0.
StageShape RandomShape(Random& r) {
  StageShape s;
  s.layers = r.Int(1, 80);
  s.layer_bytes = std::max(kPage, r.Bytes(1.0 * kMiB, 2e9) / kPage * kPage);
  if (r.Chance(0.7)) s.split_points = RandomSplitPoints(r, s.layer_bytes);
  if (r.Chance(0.6)) {
    s.embed_bytes = r.Bytes(1.0 * kMiB, 4.0 * kGiB);
    if (r.Chance(0.8)) s.embed_gather_bytes = r.Bytes(4096, 512.0 * kMiB);
  }
  if (r.Chance(0.6)) s.head_bytes = r.Bytes(1.0 * kMiB, 4.0 * kGiB);
  if (r.Chance(0.8)) s.runtime_gpu_bytes = r.Bytes(1.0 * kMiB, 16.0 * kGiB);
  return s;
}

// A budget from nothing to far more than `need`, often near it.
size_t RandomBudget(Random& r, size_t need) {
  if (r.Chance(0.05)) return 0;
  if (r.Chance(0.4)) return r.Bytes(1.0 * kMiB, 1024.0 * kGiB);
  return static_cast<size_t>(static_cast<double>(need) * r.LogUniform(0.01, 1.5));
}

// Budgets tiny to huge, speeds slow to fast.
WorkerSpec RandomWorker(Random& r, const StageShape& s) {
  WorkerSpec w;
  const size_t layers = static_cast<size_t>(s.layers) * s.layer_bytes;
  w.gpu_mem = RandomBudget(r, layers + s.embed_bytes + s.head_bytes + s.runtime_gpu_bytes);
  w.pinned_mem = RandomBudget(r, layers + s.embed_gather_bytes);
  w.ssd_gbps = r.LogUniform(0.2, 30);
  w.h2d_gbps = r.LogUniform(2, 100);
  w.decode_ms = r.LogUniform(0.01, 50);
  w.prefill_ms = r.LogUniform(1, 5000);
  w.prefill_tokens = r.Int(1, 8192);
  return w;
}

WorkloadSpec RandomWorkload(Random& r) {
  WorkloadSpec load;
  load.prefill_chunk_tokens = r.Int(1, 8192);
  load.decode_batch = r.Int(1, 64);
  return load;
}

// Mostly none; else one or two valid ones.
PlacementOverrides RandomOverrides(Random& r, const StageShape& s) {
  PlacementOverrides o;
  if (r.Chance(0.7)) return o;
  switch (r.Int(0, 5)) {
    case 0: o.gpu_layers = r.Int(0, s.layers); break;
    case 1: o.pinned_layers = r.Int(0, s.layers); break;
    case 2:
      o.gpu_layers = r.Int(0, s.layers);
      o.pinned_layers = r.Int(0, s.layers - o.gpu_layers);
      break;
    case 3: o.force_tier = static_cast<Tier>(r.Int(0, 2)); break;
    default: break;
  }
  if (r.Chance(0.4)) o.prefetch_ssd = r.Int(0, 100);
  if (r.Chance(0.4)) o.prefetch_h2d = r.Int(0, 8);
  return o;
}

bool NoOverrides(const PlacementOverrides& o) {
  return o.gpu_layers < 0 && o.pinned_layers < 0 && o.prefetch_ssd < 0 && o.prefetch_h2d < 0 &&
         !o.force_tier;
}

// The smallest placement there is: no layer on the GPU, one GPU slot, the embedding on the
// host, every layer read from the SSD through a ring of one chunk.
size_t MinimalGpuBytes(const StageShape& s) {
  return s.runtime_gpu_bytes + s.head_bytes + s.layer_bytes;
}
size_t MinimalPinnedBytes(const StageShape& s) {
  return (s.embed_bytes > 0 ? s.embed_gather_bytes : 0) + kStagingChunkBytes;
}
bool MinimalFits(const StageShape& s, const WorkerSpec& w) {
  return MinimalGpuBytes(s) <= w.gpu_mem && MinimalPinnedBytes(s) <= w.pinned_mem;
}

std::string Describe(const StageShape& s, const WorkerSpec& w, const PlacementOverrides& o) {
  return "shape: " + std::to_string(s.layers) + " x " + std::to_string(s.layer_bytes) + " (" +
         std::to_string(s.split_points.size()) + " split points) embed " +
         std::to_string(s.embed_bytes) + " gather " + std::to_string(s.embed_gather_bytes) +
         " head " + std::to_string(s.head_bytes) +
         " runtime " + std::to_string(s.runtime_gpu_bytes) + "; budgets gpu " +
         std::to_string(w.gpu_mem) + " pinned " + std::to_string(w.pinned_mem) + "; speeds ssd " +
         std::to_string(w.ssd_gbps) + " h2d " + std::to_string(w.h2d_gbps) + " decode " +
         std::to_string(w.decode_ms) + "; overrides gpu " + std::to_string(o.gpu_layers) +
         " pinned " + std::to_string(o.pinned_layers) + " ssd " + std::to_string(o.prefetch_ssd) +
         " h2d " + std::to_string(o.prefetch_h2d) + " force " +
         (o.force_tier ? std::string(TierName(*o.force_tier)) : "-");
}

// GPU prefixes: none when the GPU's layers are given or a tier forced; else a split point on
// the first k streamed layers, costing k × P (less the slots' P when k is every streamed
// layer) of the GPU memory the whole layers and slots leave, and no other split point keeps
// more bytes there (ties: fewer layers).
void ExpectGpuPrefixes(const StageShape& s, const WorkerSpec& w, const PlacementOverrides& o,
                       const Placement& p) {
  const int32_t k = p.gpu_prefix_layers;
  const size_t prefix = p.gpu_prefix_bytes;
  const int32_t streamed = p.streamed_layers();
  ASSERT_GE(k, 0);
  ASSERT_LE(k, streamed);
  if (k == 0) {
    EXPECT_EQ(prefix, 0u);
    return;
  }
  EXPECT_LT(o.gpu_layers, 0);
  EXPECT_FALSE(o.force_tier.has_value());
  EXPECT_TRUE(std::binary_search(s.split_points.begin(), s.split_points.end(), prefix))
      << prefix << " is not a split point";
  const size_t whole = p.gpu.ends + p.gpu.runtime +
                       static_cast<size_t>(p.gpu_layers + p.gpu_slots) * s.layer_bytes;
  ASSERT_LE(whole, w.gpu_mem);
  const size_t leftover = w.gpu_mem - whole;
  const auto cost = [&](int32_t layers, size_t point) {
    return static_cast<size_t>(layers - (layers == streamed ? p.gpu_slots : 0)) * point;
  };
  EXPECT_LE(cost(k, prefix), leftover);
  const size_t kept = static_cast<size_t>(k) * prefix;
  for (const size_t point : s.split_points) {
    int32_t most = streamed;
    while (most > 0 && cost(most, point) > leftover) --most;
    const size_t could = static_cast<size_t>(most) * point;
    EXPECT_LE(could, kept) << "split point " << point << " on " << most << " layers";
    if (could == kept) {
      EXPECT_GE(most, k) << "a tie goes to fewer layers";
    }
  }
}

// The spread makes every SSD layer read the same, within a page; until it has lifted the
// layers without the GPU prefix to those with it, only they get pinned bytes.
void ExpectEvenReads(const Placement& p, const std::vector<LayerHome>& homes) {
  size_t least = SIZE_MAX, most = 0, prefixed_pinned = 0, plain_most = 0;
  bool any_prefixed = false;
  for (const LayerHome& h : homes) {
    if (h.tier != Tier::kSsd) continue;
    const size_t read = p.layer_bytes - h.gpu_bytes - h.pinned_bytes;
    least = std::min(least, read);
    most = std::max(most, read);
    if (h.gpu_bytes > 0) {
      any_prefixed = true;
      prefixed_pinned += h.pinned_bytes;
    } else {
      plain_most = std::max(plain_most, h.pinned_bytes);
    }
  }
  if (least == SIZE_MAX) return;
  if (!any_prefixed || prefixed_pinned > 0) {
    EXPECT_LE(most - least, kPage);
  } else {
    EXPECT_LE(plain_most, p.gpu_prefix_bytes);
  }
}

// Everything a placement must satisfy, whatever chose it.
void ExpectValid(const StageShape& s, const WorkerSpec& w, const PlacementOverrides& o,
                 const Placement& p) {
  ASSERT_EQ(p.layers, s.layers);
  ASSERT_EQ(p.layer_bytes, s.layer_bytes);
  // Counts add up.
  EXPECT_GE(p.gpu_layers, 0);
  EXPECT_GE(p.pinned_layers, 0);
  ASSERT_GE(p.ssd_layers(), 0);
  EXPECT_EQ(p.gpu_layers + p.pinned_layers + p.ssd_layers(), p.layers);
  EXPECT_EQ(p.streamed_layers(), p.pinned_layers + p.ssd_layers());
  // Budgets hold, and the memory is what the choices take.
  EXPECT_LE(p.gpu.total(), w.gpu_mem);
  EXPECT_LE(p.pinned.total(), w.pinned_mem);
  const size_t b = s.layer_bytes;
  const size_t prefix = p.gpu_prefix_bytes;
  const int32_t prefixed = p.gpu_prefix_layers;
  const size_t slot = b - (prefixed > 0 && prefixed == p.streamed_layers() ? prefix : 0);
  EXPECT_EQ(p.slot_bytes(), slot);
  EXPECT_EQ(p.gpu.layers,
            static_cast<size_t>(p.gpu_layers) * b + static_cast<size_t>(prefixed) * prefix);
  EXPECT_EQ(p.gpu.staging, static_cast<size_t>(p.gpu_slots) * slot);
  EXPECT_EQ(p.gpu.ends, s.head_bytes + (p.embed_on_gpu ? s.embed_bytes : 0));
  EXPECT_EQ(p.gpu.runtime, s.runtime_gpu_bytes);
  EXPECT_EQ(p.chunk_bytes, kStagingChunkBytes);
  EXPECT_EQ(p.pinned.staging, static_cast<size_t>(p.staging_chunks) * p.chunk_bytes);
  EXPECT_EQ(p.pinned.ends, 0u);
  EXPECT_EQ(p.pinned.runtime, s.embed_bytes > 0 && !p.embed_on_gpu ? s.embed_gather_bytes : 0);
  if (p.embed_on_gpu) {
    EXPECT_GT(s.embed_bytes, 0u);
  }
  ExpectGpuPrefixes(s, w, o, p);
  // The spread: whole pages, less than the SSD layers' bytes.
  EXPECT_EQ(p.spread_pinned_bytes % kPage, 0u);
  if (p.ssd_layers() > 0) {
    EXPECT_LT(p.spread_pinned_bytes, static_cast<size_t>(p.ssd_layers()) * b);
  } else {
    EXPECT_EQ(p.spread_pinned_bytes, 0u);
  }
  // Homes agree with the counts: GPU, pinned, SSD in order, the first streamed layers with
  // the GPU prefix; the pinned parts and the reads add up exactly.
  const std::vector<LayerHome> homes = p.homes();
  ASSERT_EQ(homes.size(), static_cast<size_t>(p.layers));
  size_t spread = 0, pinned = 0, read = 0;
  for (int32_t l = 0; l < p.layers; ++l) {
    const LayerHome& h = homes[static_cast<size_t>(l)];
    const Tier want = l < p.gpu_layers                     ? Tier::kGpu
                      : l < p.gpu_layers + p.pinned_layers ? Tier::kPinned
                                                           : Tier::kSsd;
    EXPECT_EQ(h.tier, want) << "layer " << l;
    if (h.tier == Tier::kGpu) {
      EXPECT_EQ(h.gpu_bytes + h.pinned_bytes, 0u);
      continue;
    }
    EXPECT_EQ(h.gpu_bytes, l - p.gpu_layers < prefixed ? prefix : 0) << "layer " << l;
    if (h.tier == Tier::kPinned) {
      EXPECT_EQ(h.pinned_bytes, 0u);
      pinned += b - h.gpu_bytes;
      continue;
    }
    EXPECT_LE(h.gpu_bytes + h.pinned_bytes + kPage, b) << "layer " << l;
    EXPECT_EQ(h.pinned_bytes % kPage, 0u);
    spread += h.pinned_bytes;
    pinned += h.pinned_bytes;
    read += b - h.gpu_bytes - h.pinned_bytes;
  }
  EXPECT_EQ(spread, p.spread_pinned_bytes);
  EXPECT_EQ(pinned, p.pinned.layers);
  EXPECT_EQ(read, p.ssd_bytes_per_pass());
  ExpectEvenReads(p, homes);
  // Streaming needs GPU slots; reading needs a ring.
  EXPECT_EQ(p.gpu_slots >= 1, p.streamed_layers() > 0);
  EXPECT_LE(p.gpu_slots, p.streamed_layers());
  if (p.ssd_bytes_per_pass() > 0) {
    EXPECT_GE(p.staging_chunks, 1);
  }
  if (o.prefetch_ssd < 0) {
    EXPECT_LE(p.staging_chunks, kMaxStagingChunks);
  }
  // Overrides honoured.
  if (o.gpu_layers >= 0) {
    EXPECT_EQ(p.gpu_layers, o.gpu_layers);
  }
  if (o.pinned_layers >= 0) {
    EXPECT_EQ(p.pinned_layers, o.pinned_layers);
  }
  if (o.pinned_layers >= 0 || o.force_tier) {
    EXPECT_EQ(p.spread_pinned_bytes, 0u);
  }
  if (o.force_tier) {
    const int32_t in_tier = *o.force_tier == Tier::kGpu      ? p.gpu_layers
                            : *o.force_tier == Tier::kPinned ? p.pinned_layers
                                                             : p.ssd_layers();
    EXPECT_EQ(in_tier, p.layers);
  }
  if (o.prefetch_h2d >= 0 && p.streamed_layers() > 0) {
    EXPECT_EQ(p.gpu_slots, std::min(o.prefetch_h2d + 1, p.streamed_layers()));
  }
  if (o.prefetch_ssd >= 0 && p.ssd_layers() > 0) {
    const size_t ring = static_cast<size_t>(o.prefetch_ssd) * b;
    EXPECT_EQ(p.staging_chunks,
              std::max<int32_t>(1, static_cast<int32_t>((ring + kStagingChunkBytes - 1) /
                                                        kStagingChunkBytes)));
  }
}

// The smallest placement the overrides allow: the layer counts they give (else none on the
// GPU or pinned), their GPU slots (else one), their ring when something is read from the
// SSD (else one chunk, and none when nothing is loaded or read), the embedding on the host.
bool LeastWithOverridesFits(const StageShape& s, const WorkerSpec& w,
                            const PlacementOverrides& o) {
  const int32_t gpu = o.gpu_layers >= 0 ? o.gpu_layers : o.force_tier == Tier::kGpu ? s.layers : 0;
  const int32_t streamed = s.layers - gpu;
  const int32_t pinned = o.pinned_layers >= 0              ? o.pinned_layers
                         : o.force_tier == Tier::kPinned ? streamed
                                                         : 0;
  const int32_t slots = std::min(streamed, std::max(o.prefetch_h2d, 0) + 1);
  size_t ring = 0;
  if (pinned < streamed && o.prefetch_ssd >= 0) {
    ring = std::max(kStagingChunkBytes, (static_cast<size_t>(o.prefetch_ssd) * s.layer_bytes +
                                         kStagingChunkBytes - 1) /
                                            kStagingChunkBytes * kStagingChunkBytes);
  } else if (pinned < streamed || gpu > 0 || s.head_bytes > 0) {
    ring = kStagingChunkBytes;
  }
  const size_t gpu_bytes = s.runtime_gpu_bytes + s.head_bytes +
                           static_cast<size_t>(gpu + slots) * s.layer_bytes;
  const size_t pinned_bytes = static_cast<size_t>(pinned) * s.layer_bytes + ring +
                              (s.embed_bytes > 0 ? s.embed_gather_bytes : 0);
  return gpu_bytes <= w.gpu_mem && pinned_bytes <= w.pinned_mem;
}

// A refusal: kResourceExhausted stating both minima, only when not even the smallest
// placement (with the overrides, if any) fits.
void ExpectJustifiedRefusal(const StageShape& s, const WorkerSpec& w,
                            const PlacementOverrides& o, const Status& status) {
  ASSERT_EQ(status.code(), StatusCode::kResourceExhausted) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("GPU budget must be at least"));
  EXPECT_THAT(status.message(), HasSubstr("pinned budget at least"));
  if (NoOverrides(o)) {
    EXPECT_FALSE(MinimalFits(s, w)) << status.message();
  } else {
    EXPECT_THAT(status.message(), HasSubstr("not fit as asked"));
    EXPECT_FALSE(LeastWithOverridesFits(s, w, o)) << status.message();
  }
}

TEST(PlaceStage, RandomPlacementsRespectBudgetsAndAddUp) {
  Random r(20240611);
  int placed = 0, refused = 0, prefixed = 0, slots_shrunk = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const StageShape s = RandomShape(r);
    const WorkerSpec w = RandomWorker(r, s);
    const WorkloadSpec load = RandomWorkload(r);
    const PlacementOverrides o = RandomOverrides(r, s);
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + Describe(s, w, o));
    StatusOr<Placement> p = PlaceStage(s, w, load, o);
    if (!p.ok()) {
      ++refused;
      ExpectJustifiedRefusal(s, w, o, p.status());
    } else {
      ++placed;
      prefixed += p->gpu_prefix_layers > 0;
      slots_shrunk += p->gpu_prefix_layers > 0 && p->gpu_prefix_layers == p->streamed_layers();
      ExpectValid(s, w, o, *p);
    }
    if (::testing::Test::HasFailure()) break;  // one case's failures are enough to read
  }
  // Both outcomes are exercised, and GPU prefixes on some or all streamed layers.
  EXPECT_GT(placed, 800);
  EXPECT_GT(refused, 800);
  EXPECT_GT(prefixed, 300) << slots_shrunk;
  EXPECT_GT(slots_shrunk, 20) << prefixed;
}

TEST(PlaceStage, NeverRefusesABudgetTheSmallestPlacementFits) {
  Random r(7);
  for (int trial = 0; trial < 3000; ++trial) {
    const StageShape s = RandomShape(r);
    WorkerSpec w = RandomWorker(r, s);
    // Budgets from the minimum to a few times it, where a rule that rounds up would refuse.
    w.gpu_mem = static_cast<size_t>(static_cast<double>(MinimalGpuBytes(s)) *
                                    r.LogUniform(1, r.Chance(0.5) ? 1.05 : 4));
    w.pinned_mem = static_cast<size_t>(static_cast<double>(MinimalPinnedBytes(s)) *
                                       r.LogUniform(1, r.Chance(0.5) ? 1.05 : 8));
    if (r.Chance(0.1)) w.gpu_mem = MinimalGpuBytes(s);
    if (r.Chance(0.1)) w.pinned_mem = MinimalPinnedBytes(s);
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + Describe(s, w, {}));
    ASSERT_TRUE(MinimalFits(s, w));
    StatusOr<Placement> p = PlaceStage(s, w, RandomWorkload(r), {});
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ExpectValid(s, w, {}, *p);
  }
}

// How a naive placement stages its streams.
enum class Staging {
  kRing,         // as PlaceStage's: the ring StagingChunks sizes (one chunk to load only)
  kWholeLayers,  // the old rule's: prefetch + 1 whole-layer pinned slots, at least the ring
};

// The old rule, front to back in whole layers: the most GPU layers beside `slots` GPU slots
// (and the embedding, when `embed_on_gpu`), then the most whole pinned layers beside the
// staging, the rest read from the SSD. Its memory tallied as placement.h says; nullopt when
// not even that fits.
std::optional<Placement> NaiveFill(const StageShape& s, const WorkerSpec& w, int32_t slots,
                                   bool embed_on_gpu, Staging staging) {
  if (embed_on_gpu && s.embed_bytes == 0) return std::nullopt;
  const size_t b = s.layer_bytes;
  const size_t gpu_fixed = s.runtime_gpu_bytes + s.head_bytes + (embed_on_gpu ? s.embed_bytes : 0);
  const auto gpu_bytes = [&](int32_t g) {
    return gpu_fixed + static_cast<size_t>(g + std::min(s.layers - g, slots)) * b;
  };
  int32_t g = s.layers;
  while (g >= 0 && gpu_bytes(g) > w.gpu_mem) --g;
  if (g < 0) return std::nullopt;
  const int32_t streamed = s.layers - g;
  const int32_t used_slots = std::min(streamed, slots);
  const size_t gather = s.embed_bytes > 0 && !embed_on_gpu ? s.embed_gather_bytes : 0;
  const auto ring = [&](int32_t ssd) -> size_t {
    if (ssd == 0) return g > 0 || s.head_bytes > 0 || embed_on_gpu ? kStagingChunkBytes : 0;
    const size_t chunks = static_cast<size_t>(StagingChunks(w, b, used_slots));
    const size_t ring_bytes = chunks * kStagingChunkBytes;
    if (staging == Staging::kRing) return ring_bytes;
    return std::max(ring_bytes, static_cast<size_t>(std::min(ssd, slots)) * b);
  };
  int32_t pinned = streamed;
  while (pinned >= 0 &&
         static_cast<size_t>(pinned) * b + gather + ring(streamed - pinned) > w.pinned_mem) {
    --pinned;
  }
  if (pinned < 0) return std::nullopt;
  Placement p;
  p.layers = s.layers;
  p.layer_bytes = b;
  p.gpu_layers = g;
  p.pinned_layers = pinned;
  p.gpu_slots = used_slots;
  const size_t ring_bytes = ring(streamed - pinned);
  p.staging_chunks =
      static_cast<int32_t>((ring_bytes + kStagingChunkBytes - 1) / kStagingChunkBytes);
  p.embed_on_gpu = embed_on_gpu;
  p.gpu.layers = static_cast<size_t>(g) * b;
  p.gpu.staging = static_cast<size_t>(used_slots) * b;
  p.gpu.ends = gpu_fixed - s.runtime_gpu_bytes;
  p.gpu.runtime = s.runtime_gpu_bytes;
  p.pinned.layers = static_cast<size_t>(pinned) * b;
  p.pinned.staging = ring_bytes;
  p.pinned.runtime = gather;
  return p;
}

TEST(PlaceStage, NeverSlowerThanNaiveWholeLayerFills) {
  Random r(99);
  int compared = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    const StageShape s = RandomShape(r);
    const WorkerSpec w = RandomWorker(r, s);
    const WorkloadSpec load = RandomWorkload(r);
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + Describe(s, w, {}));
    StatusOr<Placement> chosen = PlaceStage(s, w, load, {});
    const double ms = chosen.ok() ? PredictPass(*chosen, w, load, Phase::kDecode).ms : 1e300;
    for (int32_t slots : {1, 2, 3, 5}) {
      for (bool embed_on_gpu : {false, true}) {
        for (Staging staging : {Staging::kRing, Staging::kWholeLayers}) {
          const std::optional<Placement> naive = NaiveFill(s, w, slots, embed_on_gpu, staging);
          if (!naive) continue;
          SCOPED_TRACE("naive: " + std::to_string(slots) + " slots, embedding on " +
                       (embed_on_gpu ? "gpu" : "host") + ", " + std::to_string(naive->gpu_layers) +
                       " gpu " + std::to_string(naive->pinned_layers) + " pinned");
          ASSERT_LE(naive->gpu.total(), w.gpu_mem);
          ASSERT_LE(naive->pinned.total(), w.pinned_mem);
          ASSERT_TRUE(chosen.ok()) << "a naive placement fits: " << chosen.status().ToString();
          ++compared;
          const double naive_ms = PredictPass(*naive, w, load, Phase::kDecode).ms;
          EXPECT_LE(ms, naive_ms * (1 + 1e-9)) << "chosen: " << chosen->gpu_layers << " gpu "
                                               << chosen->pinned_layers << " pinned, spread "
                                               << chosen->spread_pinned_bytes << ", "
                                               << chosen->gpu_slots << " slots";
          // The same whole-layer fill through PlaceStage's overrides is that placement.
          if (staging == Staging::kRing && !embed_on_gpu) {
            PlacementOverrides o;
            o.gpu_layers = naive->gpu_layers;
            o.pinned_layers = naive->pinned_layers;
            o.prefetch_h2d = slots - 1;
            StatusOr<Placement> same = PlaceStage(s, w, load, o);
            ASSERT_TRUE(same.ok()) << same.status().ToString();
            EXPECT_DOUBLE_EQ(PredictPass(*same, w, load, Phase::kDecode).ms, naive_ms);
            // On a tie the embedding may move to the GPU (PlaceStage prefers it there).
            if (!same->embed_on_gpu) {
              EXPECT_EQ(same->gpu.total(), naive->gpu.total());
              EXPECT_EQ(same->pinned.total(), naive->pinned.total());
            }
          }
        }
      }
    }
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(compared, 2000);
}

// `strata plan --nodes 1` with its defaults: fp8 Llama 3.1 70B on one RTX 5080 node, prefill
// chunks of 2048 tokens, decode batch 1, no KV cache reserved.
TEST(PlaceStage, SeedNodeKeepsLayersOnTheGpuAndDecodesATokenInTwoSeconds) {
  ClusterSpec c;
  c.model = Llama31_70B(PackDType::kFP8);
  c.workers.push_back(Rtx5080Node(PackDType::kFP8));
  c.workload = WorkloadSpec{2048, 1, 0};
  StatusOr<ClusterPlan> plan = PlanCluster(c, PlanOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Placement& p = plan->workers[0].placement;
  EXPECT_GE(p.gpu_layers, 12);
  EXPECT_LE(plan->decode.latency_ms, 2000.0);
  // What the whole layers and slots leave of the GPU keeps prefixes of the next layers.
  EXPECT_GT(p.gpu_prefix_layers, 0);
  // The rest streams from the SSD with most of the pinned budget spread over it.
  EXPECT_EQ(p.gpu_layers + p.ssd_layers(), 80);
  EXPECT_GT(p.spread_pinned_bytes, 40 * kGiB);
  EXPECT_LE(p.gpu.total(), c.workers[0].gpu_mem);
  EXPECT_LE(p.pinned.total(), c.workers[0].pinned_mem);
  ExpectValid(StageShapeOf(c, 0, 80), c.workers[0], {}, p);
}

// The seed's 80 layers with the 70B's ends on a 14.4 GiB GPU and 48 GiB of pinned memory.
StageShape SeedShape() {
  StageShape s;
  s.layers = 80;
  s.layer_bytes = testing::PageRounded(844'000'000);
  s.embed_bytes = 2'101'346'304;
  s.embed_gather_bytes = 64 * kMiB;
  s.head_bytes = 2'101'362'688;
  s.runtime_gpu_bytes = kGiB;
  return s;
}

WorkerSpec SeedNode() { return SeedWorker(16 * kGiB / 10 * 9, 48 * kGiB); }

StatusOr<Placement> PlaceSeed(const PlacementOverrides& o) {
  return PlaceStage(SeedShape(), SeedNode(), WorkloadSpec{}, o);
}

TEST(PlaceStage, LayerCountOverridesAreHonouredExactly) {
  const StageShape s = SeedShape();
  const WorkerSpec w = SeedNode();
  PlacementOverrides o;
  o.gpu_layers = 5;
  o.pinned_layers = 20;
  StatusOr<Placement> p = PlaceSeed(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_layers, 5);
  EXPECT_EQ(p->pinned_layers, 20);
  EXPECT_EQ(p->ssd_layers(), 55);
  ExpectValid(s, w, o, *p);

  // One count given: the other is chosen around it.
  o = {};
  o.gpu_layers = 3;
  p = PlaceSeed(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_layers, 3);
  EXPECT_GT(p->spread_pinned_bytes, 0u) << "the chosen rest still spreads the pinned budget";
  o = {};
  o.pinned_layers = 10;
  p = PlaceSeed(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->pinned_layers, 10);
  EXPECT_EQ(p->spread_pinned_bytes, 0u);
  ExpectValid(s, w, o, *p);
  // With room for 75 pinned layers, the GPU takes at most the 5 left, though it could hold
  // more.
  const WorkerSpec roomy = SeedWorker(16 * kGiB / 10 * 9, 80 * kGiB);
  o.pinned_layers = 75;
  p = PlaceStage(s, roomy, WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->pinned_layers, 75);
  EXPECT_EQ(p->gpu_layers, 5);
  EXPECT_EQ(p->ssd_layers(), 0);
  ExpectValid(s, roomy, o, *p);

  // Every layer on the GPU when it fits.
  StageShape small = s;
  small.layers = 4;
  o = {};
  o.gpu_layers = 4;
  p = PlaceStage(small, w, WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_slots, 0);
  ExpectValid(small, w, o, *p);
}

TEST(PlaceStage, TooLargeOverridesAreRefusedClearly) {
  PlacementOverrides o;
  o.gpu_layers = 81;
  StatusOr<Placement> p = PlaceSeed(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("more than the 80 layers"));
  o = {};
  o.gpu_layers = 50;
  o.pinned_layers = 31;
  p = PlaceSeed(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("--gpu-layers 50 plus --pinned-layers 31"));
  o = {};
  o.pinned_layers = 81;
  EXPECT_EQ(PlaceSeed(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.gpu_layers = 2;
  o.force_tier = Tier::kSsd;
  p = PlaceSeed(o);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("contradict"));

  // Counts the stage has, budgets that cannot hold them: 40 GPU layers are 33.8 GB.
  o = {};
  o.gpu_layers = 40;
  p = PlaceSeed(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(p.status().message(), HasSubstr("do not fit as asked (--gpu-layers 40)"));
  EXPECT_THAT(p.status().message(), HasSubstr("GPU budget must be at least"));
  EXPECT_THAT(p.status().message(), HasSubstr("given 14.40 GiB"));
  // 62 pinned layers are 52.3 GB, more than 48 GiB.
  o = {};
  o.pinned_layers = 62;
  p = PlaceSeed(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(p.status().message(), HasSubstr("do not fit as asked (--pinned-layers 62)"));
  EXPECT_THAT(p.status().message(), HasSubstr("pinned budget at least"));
  EXPECT_THAT(p.status().message(), HasSubstr("given 48.00 GiB"));
}

TEST(PlaceStage, PrefetchH2dGivesThatManyGpuSlotsMore) {
  const StageShape s = SeedShape();
  for (int32_t d : {0, 1, 2, 5}) {
    PlacementOverrides o;
    o.prefetch_h2d = d;
    StatusOr<Placement> p = PlaceSeed(o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->gpu_slots, d + 1);
    ExpectValid(s, SeedNode(), o, *p);
  }
  // Capped by the streamed layers: 2 of 4 streamed with d = 5.
  StageShape small = s;
  small.layers = 4;
  PlacementOverrides o;
  o.gpu_layers = 2;
  o.prefetch_h2d = 5;
  StatusOr<Placement> p = PlaceStage(small, SeedNode(), WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_slots, 2);
  EXPECT_EQ(p->gpu.staging, 2 * s.layer_bytes);
  // No slot when nothing streams.
  o.gpu_layers = 4;
  p = PlaceStage(small, SeedNode(), WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_slots, 0);
}

TEST(PlaceStage, ForcedSsdReadsEveryLayerWhole) {
  PlacementOverrides o;
  o.force_tier = Tier::kSsd;
  StatusOr<Placement> p = PlaceSeed(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->ssd_layers(), 80);
  EXPECT_EQ(p->spread_pinned_bytes, 0u);
  EXPECT_EQ(p->ssd_bytes_per_pass(), 80 * SeedShape().layer_bytes);
  EXPECT_EQ(p->pinned.layers, 0u);
  EXPECT_GE(p->staging_chunks, 1);
  ExpectValid(SeedShape(), SeedNode(), o, *p);

  o.force_tier = Tier::kPinned;
  StageShape small = SeedShape();
  small.layers = 20;
  p = PlaceStage(small, SeedNode(), WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->pinned_layers, 20);
  ExpectValid(small, SeedNode(), o, *p);
}

TEST(PlaceStage, TightPinnedBudgetsShrinkTheRingOrMoveTheEmbedding) {
  const StageShape s = SeedShape();
  // The gather buffer and one and a half chunks: the ring shrinks to the one chunk that fits
  // (it would take 8); the half chunk left is spread.
  WorkerSpec w = SeedNode();
  w.pinned_mem = s.embed_gather_bytes + kStagingChunkBytes * 3 / 2;
  StatusOr<Placement> p = PlaceStage(s, w, WorkloadSpec{}, {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->staging_chunks, 1);
  EXPECT_FALSE(p->embed_on_gpu);
  EXPECT_EQ(p->spread_pinned_bytes, kStagingChunkBytes / 2);
  EXPECT_EQ(p->pinned.total(), w.pinned_mem);
  ExpectValid(s, w, {}, *p);
  // Less than the gather buffer: the embedding moves to the GPU, displacing layers, rather
  // than the stage being refused.
  w.pinned_mem = 40 * kMiB;
  p = PlaceStage(s, w, WorkloadSpec{}, {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->embed_on_gpu);
  EXPECT_LT(p->gpu_layers, 12);
  EXPECT_EQ(p->pinned.runtime, 0u);
  ExpectValid(s, w, {}, *p);
  // Less than one chunk: nothing fits.
  w.pinned_mem = 8 * kMiB;
  p = PlaceStage(s, w, WorkloadSpec{}, {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(p.status().message(), HasSubstr("pinned budget at least 80.00 MiB"));
}

// Layers of 1000 pages cut at `cuts` (in pages), 64 MiB of runtime bytes; a worker whose
// stream, not its compute, paces a pass and whose pinned memory holds the ring only, so every
// streamed layer is read; its GPU holds the runtime bytes and `gpu_layers` layers more.
StageShape CutShape(int32_t layers, const std::vector<size_t>& cuts) {
  StageShape s;
  s.layers = layers;
  s.layer_bytes = 1000 * kPage;
  for (size_t pages : cuts) s.split_points.push_back(pages * kPage);
  s.runtime_gpu_bytes = 64 * kMiB;
  return s;
}
WorkerSpec StreamBound(const StageShape& s, double gpu_layers) {
  WorkerSpec w = SeedWorker(0, kStagingChunkBytes);
  w.decode_ms = 0.01;
  w.gpu_mem = s.runtime_gpu_bytes +
              static_cast<size_t>(gpu_layers * static_cast<double>(s.layer_bytes));
  return w;
}

TEST(PlaceStage, GpuPrefixesSpendWhatWholeLayersAndSlotsLeave) {
  const StageShape s = CutShape(10, {150, 400, 600, 850});
  // Three whole layers and a slot, and 0.6 of a layer and a little left.
  WorkerSpec w = StreamBound(s, 4.6);
  w.gpu_mem += 1000;
  StatusOr<Placement> p = PlaceStage(s, w, WorkloadSpec{}, {});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ExpectValid(s, w, {}, *p);
  EXPECT_EQ(p->gpu_layers, 3);
  EXPECT_EQ(p->gpu_slots, 1);
  // The largest split point within the 600 pages left, on one layer (150 pages on four keep
  // as much: a tie goes to fewer layers); the slot still holds a whole layer.
  EXPECT_EQ(p->gpu_prefix_bytes, 600 * kPage);
  EXPECT_EQ(p->gpu_prefix_layers, 1);
  EXPECT_EQ(p->slot_bytes(), s.layer_bytes);
  EXPECT_EQ(p->homes()[3].gpu_bytes, 600 * kPage);
  EXPECT_EQ(p->homes()[4].gpu_bytes, 0u);
  // Against the same stage with nothing to cut at: as many whole layers, 600 pages fewer
  // read per pass, a faster decode.
  StageShape uncut = s;
  uncut.split_points.clear();
  StatusOr<Placement> whole = PlaceStage(uncut, w, WorkloadSpec{}, {});
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->gpu_layers, 3);
  EXPECT_EQ(whole->gpu_prefix_layers, 0);
  EXPECT_EQ(p->ssd_bytes_per_pass(), whole->ssd_bytes_per_pass() - 600 * kPage);
  EXPECT_LT(PredictPass(*p, w, WorkloadSpec{}, Phase::kDecode).ms,
            PredictPass(*whole, w, WorkloadSpec{}, Phase::kDecode).ms);
}

TEST(PlaceStage, GpuPrefixesOnEveryStreamedLayerShrinkTheSlots) {
  const StageShape s = CutShape(4, {100, 300, 700});
  // One whole layer and one slot, and 0.6 of a layer left.
  const WorkerSpec w = StreamBound(s, 2.6);
  PlacementOverrides o;
  o.prefetch_h2d = 0;  // one GPU slot
  StatusOr<Placement> p = PlaceStage(s, w, WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ExpectValid(s, w, o, *p);
  EXPECT_EQ(p->gpu_layers, 1);
  // 300 pages on each of the 3 streamed layers keep 900 pages on the GPU, more than the 600
  // left, because the slot now holds only the other 700 of a layer.
  EXPECT_EQ(p->gpu_prefix_bytes, 300 * kPage);
  EXPECT_EQ(p->gpu_prefix_layers, 3);
  EXPECT_EQ(p->slot_bytes(), 700 * kPage);
  EXPECT_EQ(p->gpu.staging, 700 * kPage);
  EXPECT_EQ(p->gpu.layers, 1000 * kPage + 900 * kPage);
  EXPECT_EQ(p->gpu.total(), w.gpu_mem);
  EXPECT_EQ(p->ssd_bytes_per_pass(), 3 * 700 * kPage);
}

TEST(PlaceStage, GpuPrefixesFollowTheGpuLayersWhenTheyAreGiven) {
  const StageShape s = CutShape(10, {150, 400, 600, 850});
  WorkerSpec w = StreamBound(s, 4.6);
  w.pinned_mem += 2 * s.layer_bytes;
  // Given GPU layers or a forced tier: whole layers only, as asked.
  PlacementOverrides o;
  o.gpu_layers = 3;
  StatusOr<Placement> p = PlaceStage(s, w, WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_prefix_layers, 0);
  o = {};
  o.force_tier = Tier::kSsd;
  p = PlaceStage(s, w, WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_prefix_layers, 0);
  // Given pinned layers: the rest is chosen around them, prefixes too (the first pinned
  // layer keeps 600 pages on the GPU and copies the other 400).
  o = {};
  o.pinned_layers = 2;
  p = PlaceStage(s, w, WorkloadSpec{}, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->gpu_prefix_layers, 1);
  ExpectValid(s, w, o, *p);
}

TEST(PlaceStage, SplitPointsThatAreNotCutsAreRefused) {
  StageShape s = CutShape(4, {100, 300});
  const WorkerSpec w = StreamBound(s, 2.6);
  for (const std::vector<size_t>& bad :
       {std::vector<size_t>{0}, {300 * kPage, 100 * kPage}, {100 * kPage + 1}, {1000 * kPage}}) {
    s.split_points = bad;
    StatusOr<Placement> p = PlaceStage(s, w, WorkloadSpec{}, {});
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr("split point"));
  }
}

TEST(PlaceStage, SpreadPrefixIsEvenInPages) {
  // 10 pages over 4 layers: 3, 3, 2, 2.
  EXPECT_EQ(SpreadPrefix(10 * kPage, 4, 0, 100 * kPage), 3 * kPage);
  EXPECT_EQ(SpreadPrefix(10 * kPage, 4, 1, 100 * kPage), 3 * kPage);
  EXPECT_EQ(SpreadPrefix(10 * kPage, 4, 2, 100 * kPage), 2 * kPage);
  EXPECT_EQ(SpreadPrefix(10 * kPage, 4, 3, 100 * kPage), 2 * kPage);
  // Never the whole layer.
  EXPECT_EQ(SpreadPrefix(100 * kPage, 1, 0, 10 * kPage), 9 * kPage);
  EXPECT_EQ(SpreadPrefix(5 * kPage, 0, 0, 10 * kPage), 0u);
}

TEST(PlaceStage, SpreadPrefixLiftsTheLayersWithoutAGpuPrefixFirst) {
  // 4 layers of 100 pages, the first 2 with 10 pages on the GPU. 14 pages: the other two get
  // 7 each (short of the 10 that would make every layer read 90).
  const size_t layer = 100 * kPage;
  const auto spread = [&](size_t pages, int32_t i) {
    return SpreadPrefix(pages * kPage, 4, i, layer, 2, 10 * kPage) / kPage;
  };
  EXPECT_EQ(spread(14, 0), 0u);
  EXPECT_EQ(spread(14, 1), 0u);
  EXPECT_EQ(spread(14, 2), 7u);
  EXPECT_EQ(spread(14, 3), 7u);
  // 27 pages: 10 each to lift them, the 7 left spread over all four (2, 2, 2, 1): every layer
  // reads 88 or 89 pages.
  EXPECT_EQ(spread(27, 0), 2u);
  EXPECT_EQ(spread(27, 1), 2u);
  EXPECT_EQ(spread(27, 2), 12u);
  EXPECT_EQ(spread(27, 3), 11u);
  // Everything but a page of each to read.
  EXPECT_EQ(spread(2 * 89 + 2 * 99, 0), 89u);
  EXPECT_EQ(spread(2 * 89 + 2 * 99, 3), 99u);
}

TEST(PlaceStage, StagingRingKeepsTheDiskBusyWhileTheCopyPathIsBlocked) {
  const WorkerSpec w = SeedWorker();
  const size_t layer = testing::PageRounded(844'000'000);
  // Two slots: blocked for one copy (20.32 ms, 90.4 MB at 4.45 GB/s: 6 chunks) + 2 in flight.
  EXPECT_EQ(StagingChunks(w, layer, 2), 8);
  // One slot: the compute too (2.45 ms more: 101.3 MB, 7 chunks).
  EXPECT_EQ(StagingChunks(w, layer, 1), 9);
  WorkerSpec fast = w;
  fast.ssd_gbps = 1000;
  EXPECT_EQ(StagingChunks(fast, layer, 1), kMaxStagingChunks);
}

}  // namespace
}  // namespace strata
