// Decode GEMV on tensor cores (see gemv.h).
//
// A block owns 16 output rows (one m16n8k16 M tile) and one split of K; its 8 warps take turns
// over the split's chunks, 64 bytes of each weight row per chunk. In a chunk, thread (g, q) =
// (lane / 4, lane % 4) loads 16 contiguous bytes of weight rows g and g + 8 at byte 16 * q:
// once the K order inside the chunk is permuted, those registers are exactly the A fragments
// of the MMAs, and the x values at the same columns (loaded by the same thread) are the B
// fragments. A dot product does not depend on the order of K, so weights go from DRAM to the
// tensor cores with 16-byte loads, no shared memory and no shuffles. fp8 weights are widened
// to bf16 exactly by bit moves plus one multiply by 2^120.
//
// int4 weights: a chunk is 128 columns, a thread's 16 bytes 32 of them (columns 32q..32q+31
// of the chunk), which lie in one quantisation group (group_size = 32 * 2^j). Each code pair
// of a byte becomes a bf16x2 word 128 + q by a byte permute and a mask-or with 0x4300 (bf16
// 128 has a mantissa unit of 1), then one bf16x2 subtraction of 128 + z gives q - z exactly.
// When groups are multiples of 128 columns (GemvKind::kU4ChunkScale) a chunk lies in one
// group: its MMAs go to a fresh accumulator that is added times the rows' scales in fp32, so
// the products are exact. Smaller groups (kU4FragScale) multiply the fragments by s in bf16
// (one rounding of (q - z) * s, as the prefill dequantisation does).
//
// Up to 8 rows of x are one MMA N tile; 9..16 rows take two. Several weights that share x
// (q, k, v) are one grid: their row tiles are numbered one after the other and a block looks
// up its weight. K is split so that a block streams about GemvWorkspace::split_bytes and the
// grid fills every resident block slot (occupancy queried once per kernel); splits write
// fp32 partial sums that a second kernel adds (in a fixed order: results are deterministic).
#include <algorithm>
#include <type_traits>

#include "common/backend/cuda/gemv.h"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kUnroll = 4;            // chunks per warp with loads in flight at once
constexpr int kTileRows = static_cast<int>(kGemvTileRows);  // output rows per block (MMA M)
constexpr int kChunkBytes = 64;       // bytes of one weight row per chunk: 4 threads x 16 bytes
constexpr int kMinChunksPerWarp = 2;  // a split gives each warp at least this many chunks
constexpr int kReduceThreads = 256;

__device__ __forceinline__ uint4 LoadStreaming(const uint8_t* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// d (16 x 8, fp32) += a (16 x 16, bf16, row) · b (16 x 8, bf16, col), PTX fragment layout.
__device__ __forceinline__ void Mma(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                    uint32_t a3, uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Four e4m3 bytes -> bf16x2 words (byte0, byte1) and (byte2, byte3), exactly. Each byte goes
// to the high byte of a 16-bit lane; its exponent and mantissa bits are moved to their bf16
// places, which gives the value times 2^-120 (subnormals included), then one multiply by
// 2^120 (an fma with -0 so that +0 stays +0).
__device__ __forceinline__ void E4M3x4ToBf16x2(uint32_t v, uint32_t& lo, uint32_t& hi) {
  constexpr uint32_t kSign = 0x80008000u, kBody = 0x07f007f0u;
  constexpr uint32_t kTwoPow120 = 0x7b807b80u, kNegZero = 0x80008000u;
  const uint32_t a = __byte_perm(v, 0u, 0x1404);  // [0, b0, 0, b1]
  const uint32_t b = __byte_perm(v, 0u, 0x3424);  // [0, b2, 0, b3]
  const uint32_t a_scaled = (a & kSign) | ((a >> 4) & kBody);
  const uint32_t b_scaled = (b & kSign) | ((b >> 4) & kBody);
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(lo) : "r"(a_scaled), "r"(kTwoPow120), "r"(kNegZero));
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(hi) : "r"(b_scaled), "r"(kTwoPow120), "r"(kNegZero));
}

__device__ __forceinline__ uint32_t Word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// a * b + c on bf16x2 words, rounded once.
__device__ __forceinline__ uint32_t FmaBf16x2(uint32_t a, uint32_t b, uint32_t c) {
  uint32_t d;
  asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
}

constexpr uint32_t kBf16x2One = 0x3f803f80u;
constexpr uint32_t kBf16x2NegZero = 0x80008000u;

// Eight int4 codes (a word, column 2i in the low nibble of byte i) -> four bf16x2 words of
// (q - z), columns (0, 1), (2, 3), (4, 5), (6, 7). neg_bias: bf16x2 -(128 + z), twice.
__device__ __forceinline__ void U4x8ToBf16x2(uint32_t v, uint32_t neg_bias, uint32_t (&out)[4]) {
  constexpr uint32_t kLowNibbles = 0x000f000fu, kBf16x2Of128 = 0x43004300u;
  const uint32_t odd = v >> 4;  // byte i's high nibble in its low nibble
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    // [byte i of v, -, byte i of odd, -]: the even code in the low half, the odd in the high.
    const uint32_t pair = __byte_perm(v, odd, 0x0400u + 0x0101u * i);
    out[i] = FmaBf16x2((pair & kLowNibbles) | kBf16x2Of128, kBf16x2One, neg_bias);
  }
}

// bf16 bits -> the same value in both halves of a bf16x2 word.
__device__ __forceinline__ uint32_t Splat(uint16_t bits) { return bits * 0x10001u; }

// bf16x2 -(128 + z) for a bf16 zero point z (rounded to an integer, as 128 + z in bf16 is).
__device__ __forceinline__ uint32_t NegBias(uint16_t zero_bits) {
  const float z = __uint_as_float(uint32_t{zero_bits} << 16);
  return Splat(__bfloat16_as_ushort(__float2bfloat16_rn(-128.0f - z)));
}

// The kernel variant for a weight dtype (and, for int4, where its group scales are applied).
enum class GemvKind { kBf16, kFp8, kU4ChunkScale, kU4FragScale };

// The targets of one launch as the kernels see them. Target s owns row tiles
// [first_tile[s], first_tile[s + 1]), and the same tiles' columns (16 per tile) of the split
// partials.
struct Targets {
  const uint8_t* w[kGemvMaxTargets];      // (n[s], k) in the dtype (int4: (n[s], k / 2) bytes)
  const float* scales[kGemvMaxTargets];   // (n[s]) or nullptr
  const uint16_t* group_scales[kGemvMaxTargets];  // int4: (n[s], k / group_size) bf16
  const uint16_t* group_zeros[kGemvMaxTargets];   // int4: (n[s], k / group_size) bf16
  float* out[kGemvMaxTargets];            // (rows, n[s])
  int64_t n[kGemvMaxTargets];
  int64_t first_tile[kGemvMaxTargets + 1];
  int count;
};

__device__ __forceinline__ int TargetOfTile(const Targets& t, int64_t tile) {
  int s = 0;
#pragma unroll
  for (int i = 1; i < static_cast<int>(kGemvMaxTargets); ++i) {
    if (i < t.count && tile >= t.first_tile[i]) s = i;
  }
  return s;
}

// Grid: (row tiles of all targets, splits). partials (splits, rows, 16 * tiles) when
// splitting, else nullptr and the block writes its target's out directly.
// group_shift: int4 group_size = 32 << group_shift.
template <GemvKind kKind, int kTokenTiles>
__global__ void __launch_bounds__(kThreads)
    GemvMmaKernel(const __nv_bfloat16* __restrict__ x, Targets tg, int rows, int64_t k,
                  int group_shift, int64_t chunks_per_split, float* __restrict__ partials) {
  constexpr bool kFp8 = kKind == GemvKind::kFp8;
  constexpr bool kU4 = kKind == GemvKind::kU4ChunkScale || kKind == GemvKind::kU4FragScale;
  constexpr int kChunkCols = kU4 ? 128 : kFp8 ? 64 : 32;  // weight columns in a 64-byte chunk
  constexpr int kThreadCols = kChunkCols / 4;  // of which one thread holds 32, 16 or 8
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, q = lane % 4;
  const int s = TargetOfTile(tg, blockIdx.x);
  const int64_t n = tg.n[s];
  const int64_t row0 = (int64_t{blockIdx.x} - tg.first_tile[s]) * kTileRows;
  const int64_t chunks = k / kChunkCols;
  const int64_t first = int64_t{blockIdx.y} * chunks_per_split;
  const int64_t last = min(chunks, first + chunks_per_split);
  const size_t row_bytes = static_cast<size_t>(kU4 ? k / 2 : k * (kFp8 ? 1 : 2));
  // Rows past n (the last tile) re-read row n - 1; their sums are dropped.
  const int64_t row_a = min(row0 + g, n - 1), row_b = min(row0 + g + 8, n - 1);
  const uint8_t* wa = tg.w[s] + static_cast<size_t>(row_a) * row_bytes + q * 16;
  const uint8_t* wb = tg.w[s] + static_cast<size_t>(row_b) * row_bytes + q * 16;
  // int4: the group scales and zero points of rows g and g + 8.
  const int64_t groups = kU4 ? (k >> 5) >> group_shift : 0;
  const uint16_t* scale_a = kU4 ? tg.group_scales[s] + row_a * groups : nullptr;
  const uint16_t* scale_b = kU4 ? tg.group_scales[s] + row_b * groups : nullptr;
  const uint16_t* zero_a = kU4 ? tg.group_zeros[s] + row_a * groups : nullptr;
  const uint16_t* zero_b = kU4 ? tg.group_zeros[s] + row_b * groups : nullptr;
  const __nv_bfloat16* xt[kTokenTiles];  // this thread's x row per N tile (token g + 8t)
#pragma unroll
  for (int t = 0; t < kTokenTiles; ++t) {
    xt[t] = x + static_cast<size_t>(min(g + 8 * t, rows - 1)) * k + q * kThreadCols;
  }
  float acc[kTokenTiles][4] = {};

  for (int64_t base = first + warp; base < last; base += kWarps * kUnroll) {
    uint4 ra[kUnroll], rb[kUnroll];  // weight rows g and g + 8, one chunk each
    // int4: the bf16 scales and zero points of rows g and g + 8 for this thread's 32 columns
    // (one group), loaded with the codes.
    uint16_t sa[kUnroll], sb[kUnroll], za[kUnroll], zb[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * kWarps;
      if (c < last) {
        ra[u] = LoadStreaming(wa + c * kChunkBytes);
        rb[u] = LoadStreaming(wb + c * kChunkBytes);
        if constexpr (kU4) {
          const int64_t group = (4 * c + q) >> group_shift;
          sa[u] = __ldg(scale_a + group);
          sb[u] = __ldg(scale_b + group);
          za[u] = __ldg(zero_a + group);
          zb[u] = __ldg(zero_b + group);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = base + u * kWarps;
      if (c >= last) break;
      if constexpr (kU4) {
        const uint32_t bias_a = NegBias(za[u]), bias_b = NegBias(zb[u]);
        float part[kTokenTiles][4];  // kU4ChunkScale: this chunk's sums, before the scales
#pragma unroll
        for (int t = 0; t < kTokenTiles; ++t) {
#pragma unroll
          for (int i = 0; i < 4; ++i) part[t][i] = 0.0f;
        }
#pragma unroll
        for (int m = 0; m < 4; ++m) {  // columns 8m .. 8m + 7 of this thread's 32
          uint32_t a[4], b[4];
          U4x8ToBf16x2(Word(ra[u], m), bias_a, a);
          U4x8ToBf16x2(Word(rb[u], m), bias_b, b);
          if constexpr (kKind == GemvKind::kU4FragScale) {
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              a[i] = FmaBf16x2(a[i], Splat(sa[u]), kBf16x2NegZero);
              b[i] = FmaBf16x2(b[i], Splat(sb[u]), kBf16x2NegZero);
            }
          }
#pragma unroll
          for (int t = 0; t < kTokenTiles; ++t) {
            const uint4 xs = __ldg(reinterpret_cast<const uint4*>(xt[t] + c * kChunkCols) + m);
            float(&d)[4] = *(kKind == GemvKind::kU4ChunkScale ? &part[t] : &acc[t]);
            Mma(d, a[0], b[0], a[1], b[1], xs.x, xs.y);
            Mma(d, a[2], b[2], a[3], b[3], xs.z, xs.w);
          }
        }
        if constexpr (kKind == GemvKind::kU4ChunkScale) {
          const float fa = __uint_as_float(uint32_t{sa[u]} << 16);
          const float fb = __uint_as_float(uint32_t{sb[u]} << 16);
#pragma unroll
          for (int t = 0; t < kTokenTiles; ++t) {
            acc[t][0] = fmaf(part[t][0], fa, acc[t][0]);
            acc[t][1] = fmaf(part[t][1], fa, acc[t][1]);
            acc[t][2] = fmaf(part[t][2], fb, acc[t][2]);
            acc[t][3] = fmaf(part[t][3], fb, acc[t][3]);
          }
        }
      } else if constexpr (kFp8) {
        uint4 xv[kTokenTiles][2];  // 16 bf16 of x at this thread's 16 columns
#pragma unroll
        for (int t = 0; t < kTokenTiles; ++t) {
          const uint4* src = reinterpret_cast<const uint4*>(xt[t] + c * kChunkCols);
          xv[t][0] = __ldg(src);
          xv[t][1] = __ldg(src + 1);
        }
#pragma unroll
        for (int m = 0; m < 4; ++m) {  // columns 4m .. 4m + 3 of this thread's 16
          uint32_t a_lo, a_hi, b_lo, b_hi;
          E4M3x4ToBf16x2(Word(ra[u], m), a_lo, a_hi);
          E4M3x4ToBf16x2(Word(rb[u], m), b_lo, b_hi);
#pragma unroll
          for (int t = 0; t < kTokenTiles; ++t) {
            const uint4& xs = xv[t][m / 2];
            Mma(acc[t], a_lo, b_lo, a_hi, b_hi, Word(xs, (m % 2) * 2), Word(xs, (m % 2) * 2 + 1));
          }
        }
      } else {
#pragma unroll
        for (int t = 0; t < kTokenTiles; ++t) {
          const uint4 xv = __ldg(reinterpret_cast<const uint4*>(xt[t] + c * kChunkCols));
          Mma(acc[t], ra[u].x, rb[u].x, ra[u].y, rb[u].y, xv.x, xv.y);
          Mma(acc[t], ra[u].z, rb[u].z, ra[u].w, rb[u].w, xv.z, xv.w);
        }
      }
    }
  }

  // acc[t]: (row g, token 8t + 2q), (row g, token 8t + 2q + 1), then the same for row g + 8.
  __shared__ float red[kWarps][kTokenTiles * 8][kTileRows + 1];  // (warp, token, row)
#pragma unroll
  for (int t = 0; t < kTokenTiles; ++t) {
    red[warp][8 * t + 2 * q][g] = acc[t][0];
    red[warp][8 * t + 2 * q + 1][g] = acc[t][1];
    red[warp][8 * t + 2 * q][g + 8] = acc[t][2];
    red[warp][8 * t + 2 * q + 1][g + 8] = acc[t][3];
  }
  __syncthreads();
  const int64_t width = tg.first_tile[tg.count] * kTileRows;  // columns of the partials
  for (int i = threadIdx.x; i < kTokenTiles * 8 * kTileRows; i += kThreads) {
    const int token = i / kTileRows, r = i % kTileRows;
    const int64_t row = row0 + r;
    if (token >= rows || row >= n) continue;
    float sum = 0.0f;
#pragma unroll
    for (int v = 0; v < kWarps; ++v) sum += red[v][token][r];
    if (partials != nullptr) {
      partials[(int64_t{blockIdx.y} * rows + token) * width + int64_t{blockIdx.x} * kTileRows + r] =
          sum;
    } else {
      tg.out[s][token * n + row] = tg.scales[s] != nullptr ? sum * tg.scales[s][row] : sum;
    }
  }
}

// Grid: (column blocks, rows). Each target's out (rows, n) = sum over splits of its columns
// of partials (splits, rows, 16 * tiles), times its scales when given.
__global__ void GemvSplitReduceKernel(const float* __restrict__ partials, int splits, int rows,
                                      Targets tg) {
  const int token = blockIdx.y;
  const int64_t width = tg.first_tile[tg.count] * kTileRows;
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < width;
       c += int64_t{gridDim.x} * blockDim.x) {
    const int s = TargetOfTile(tg, c / kTileRows);
    const int64_t row = c - tg.first_tile[s] * kTileRows;
    if (row >= tg.n[s]) continue;
    float sum = 0.0f;
    for (int sp = 0; sp < splits; ++sp) sum += partials[(int64_t{sp} * rows + token) * width + c];
    tg.out[s][token * tg.n[s] + row] = tg.scales[s] != nullptr ? sum * tg.scales[s][row] : sum;
  }
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of the kernel variant one SM holds at once (queried once per variant).
template <GemvKind kKind, int kTokenTiles>
int BlocksPerSm() {
  static const int blocks = [] {
    int n = 0;
    STRATA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        &n, GemvMmaKernel<kKind, kTokenTiles>, kThreads, 0));
    return std::max(n, 1);
  }();
  return blocks;
}

// The kernel variant of a launch: its kind (from the dtype and the int4 group size) and its
// MMA N tiles (one for up to 8 rows of x, two above).
struct Variant {
  GemvKind kind;
  int token_tiles;
};

Variant VariantOf(DType dtype, int64_t group_size, int64_t rows) {
  const int tiles = rows > 8 ? 2 : 1;
  switch (dtype) {
    case DType::kF8E4M3:
      return {GemvKind::kFp8, tiles};
    case DType::kU4:
      return {group_size % 128 == 0 ? GemvKind::kU4ChunkScale : GemvKind::kU4FragScale, tiles};
    default:
      return {GemvKind::kBf16, tiles};
  }
}

// Calls f(std::integral_constant<GemvKind, kind>, std::integral_constant<int, tiles>).
template <typename F>
void Dispatch(Variant v, F&& f) {
  const auto with_tiles = [&](auto kind) {
    if (v.token_tiles == 2) {
      f(kind, std::integral_constant<int, 2>{});
    } else {
      f(kind, std::integral_constant<int, 1>{});
    }
  };
  switch (v.kind) {
    case GemvKind::kBf16:
      return with_tiles(std::integral_constant<GemvKind, GemvKind::kBf16>{});
    case GemvKind::kFp8:
      return with_tiles(std::integral_constant<GemvKind, GemvKind::kFp8>{});
    case GemvKind::kU4ChunkScale:
      return with_tiles(std::integral_constant<GemvKind, GemvKind::kU4ChunkScale>{});
    case GemvKind::kU4FragScale:
      return with_tiles(std::integral_constant<GemvKind, GemvKind::kU4FragScale>{});
  }
}

// Weight columns in a 64-byte chunk of a row.
int64_t ChunkCols(DType dtype) {
  return dtype == DType::kU4 ? 128 : dtype == DType::kF8E4M3 ? 64 : 32;
}

// log2(group_size / 32), or -1 when group_size is not 32 * 2^j.
int GroupShift(int64_t group_size) {
  for (int shift = 0; shift < 31; ++shift) {
    if (group_size == int64_t{32} << shift) return shift;
  }
  return -1;
}

}  // namespace

bool GemvMmaSupports(DType dtype, const void* w, int64_t k, int64_t group_size) {
  if (dtype != DType::kBF16 && dtype != DType::kF8E4M3 && dtype != DType::kU4) return false;
  if (dtype == DType::kU4 && (GroupShift(group_size) < 0 || k % group_size != 0)) return false;
  return k > 0 && k % ChunkCols(dtype) == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

GemvPlan PlanGemvMma(DType dtype, int64_t rows, int64_t k, const GemvTarget* targets,
                     size_t count, const GemvWorkspace& workspace) {
  STRATA_CHECK(rows >= 1 && rows <= kGemvMaxRows);
  STRATA_CHECK(count >= 1 && count <= kGemvMaxTargets);
  const int64_t group_size = targets[0].groups.group_size;
  GemvPlan plan;
  for (size_t i = 0; i < count; ++i) {
    const GemvTarget& t = targets[i];
    STRATA_CHECK(t.n >= 1 && GemvMmaSupports(dtype, t.w, k, t.groups.group_size));
    STRATA_CHECK_MSG(dtype != DType::kU4 || (t.groups.group_size == group_size &&
                                             t.groups.scales != nullptr &&
                                             t.groups.zeros != nullptr),
                     "a grouped int4 GEMV's weights need their groups, all of one size");
    STRATA_CHECK_MSG(i + 1 == count || t.n % kGemvTileRows == 0,
                     "a grouped GEMV's weights but the last need a multiple of 16 rows");
    plan.tiles += CeilDiv(t.n, kGemvTileRows);
  }
  Dispatch(VariantOf(dtype, group_size, rows), [&](auto kind, auto tiles) {
    plan.blocks_per_sm = BlocksPerSm<decltype(kind)::value, decltype(tiles)::value>();
  });
  const int64_t chunks = k / ChunkCols(dtype);
  const int64_t tile_bytes = kGemvTileRows * static_cast<int64_t>(DTypeBytes(dtype, k));
  const int64_t slots = int64_t{plan.blocks_per_sm} * workspace.sm_count;
  // Blocks of about split_bytes, and at least one per resident slot; each warp keeps a few
  // chunks and the partial sums fit the workspace.
  int64_t splits = std::max(CeilDiv(tile_bytes, std::max<int64_t>(workspace.split_bytes, 1)),
                            CeilDiv(slots, plan.tiles));
  splits = std::min(splits, chunks / (kWarps * kMinChunksPerWarp));
  splits = std::min<int64_t>(
      splits, static_cast<int64_t>(workspace.floats) / (rows * kGemvTileRows * plan.tiles));
  splits = std::max<int64_t>(splits, 1);
  plan.chunks_per_split = CeilDiv(chunks, splits);
  plan.splits = CeilDiv(chunks, plan.chunks_per_split);
  STRATA_CHECK(plan.splits <= 65535 && plan.tiles <= 0x7fffffff);
  return plan;
}

void LaunchGemvMma(const __nv_bfloat16* x, DType dtype, int64_t rows, int64_t k,
                   const GemvTarget* targets, size_t count, const GemvWorkspace& workspace,
                   cudaStream_t stream) {
  STRATA_CHECK(reinterpret_cast<uintptr_t>(x) % 16 == 0);
  const GemvPlan plan = PlanGemvMma(dtype, rows, k, targets, count, workspace);
  Targets tg{};
  tg.count = static_cast<int>(count);
  int64_t tile = 0;
  for (size_t i = 0; i < count; ++i) {
    tg.w[i] = static_cast<const uint8_t*>(targets[i].w);
    tg.scales[i] = targets[i].w_scales;
    tg.group_scales[i] = targets[i].groups.scales;
    tg.group_zeros[i] = targets[i].groups.zeros;
    tg.out[i] = targets[i].out;
    tg.n[i] = targets[i].n;
    tg.first_tile[i] = tile;
    tile += CeilDiv(targets[i].n, kGemvTileRows);
  }
  tg.first_tile[count] = tile;
  float* partials = plan.splits > 1 ? workspace.partials : nullptr;

  const dim3 grid(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits));
  const int r = static_cast<int>(rows);
  const int64_t group_size = targets[0].groups.group_size;
  const int group_shift = dtype == DType::kU4 ? GroupShift(group_size) : 0;
  Dispatch(VariantOf(dtype, group_size, rows), [&](auto kind, auto tiles) {
    GemvMmaKernel<decltype(kind)::value, decltype(tiles)::value><<<grid, kThreads, 0, stream>>>(
        x, tg, r, k, group_shift, plan.chunks_per_split, partials);
  });
  STRATA_CUDA_CHECK(cudaGetLastError());
  if (partials != nullptr) {
    const int64_t width = plan.tiles * kGemvTileRows;
    const dim3 reduce_grid(
        static_cast<unsigned>(std::min<int64_t>(CeilDiv(width, kReduceThreads), 1024)),
        static_cast<unsigned>(rows));
    GemvSplitReduceKernel<<<reduce_grid, kReduceThreads, 0, stream>>>(
        partials, static_cast<int>(plan.splits), r, tg);
    STRATA_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace strata::cuda
