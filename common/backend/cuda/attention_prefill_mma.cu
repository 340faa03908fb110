// Prefill attention on tensor cores (see attention.h): flash attention with bf16 mma.sync
// m16n8k16 and fp32 accumulation, head_dim 64 or 128.
//
// A block of 8 warps owns one kPrefillTileTokens (128) query tile of one sequence and one
// query head; each warp owns 16 query rows. The queries are pre-scaled by
// log2(e) / sqrt(head_dim) (the softmax uses exp2), rounded to bf16 in shared memory and
// kept in registers as mma A fragments. The block walks the keys [0, last query row]
// in tiles of kBK: fp32 K and V rows are read from the cache into registers one tile ahead,
// rounded to bf16 into padded shared tiles (conflict-free ldmatrix), and each warp computes
// its 16 x kBK scores (S = Q Kᵀ), the causal mask, the online softmax in fp32 (row max and
// sum over the four lanes that share a row), and O += P V with P rounded to bf16 straight
// from the score accumulators. A tile the warp's rows cannot see is skipped. Register
// pipeline: V of tile j is loaded while S is computed, K of tile j+1 while P V is.
// Blocks: all heads of the latest (longest) tile first.
// In a batch with a tree, a warp whose rows include tree nodes also masks, in every tile from
// the tree's base on, the keys each row's mask hides (TreeWindow); a row that has seen no key
// yet (only a tree from row 0 can) keeps a running max of -inf, its exponents taken against 0.
#include <cuda_bf16.h>

#include <cmath>

#include "common/backend/cuda/attention.h"
#include "common/backend/cuda/tree_mask.cuh"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kBQ = kPrefillTileTokens;
constexpr int kBK = 64;  // keys per tile
static_assert(kBQ == kWarps * 16, "each warp owns 16 query rows");

struct MmaParams {
  const float* q;        // (tokens, heads * head_dim)
  const float* k_cache;  // (slots * max_seq_len, kv_dim)
  const float* v_cache;  // (slots * max_seq_len, kv_dim)
  float* out;            // (tokens, heads * head_dim)
  const int32_t* seqs;   // (num_seqs, 4) kv_slot, start_pos, token_offset, n_tokens
  const int32_t* tiles;  // (num_tiles, 2) sequence, first token within it
  const int32_t* tree_base;    // (tokens) see AttentionArgs; null in a batch of chains
  const uint64_t* tree_masks;  // (tokens, kTreeMaskWords); null in a batch of chains
  int num_tiles, group, kv_dim, q_dim;
  int64_t max_seq_len;
  float scale_log2;  // log2(e) / sqrt(head_dim)
};

// bf16 per shared row: head_dim + 8, so the 8 rows of an ldmatrix hit distinct banks.
template <int kD>
constexpr int kStride = kD + 8;
// float4 pieces of a K or V tile each thread loads.
template <int kD>
constexpr int kLoads = kBK * kD / 4 / kThreads;

template <int kD>
constexpr size_t SharedBytes() {
  return sizeof(__nv_bfloat16) * size_t{kStride<kD>} * (kBQ + 2 * kBK);
}

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ void LdMatrixX4(const __nv_bfloat16* p, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SharedAddress(p)));
}

__device__ __forceinline__ void LdMatrixX4Trans(const __nv_bfloat16* p, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SharedAddress(p)));
}

// c (16 x 8, fp32) += a (16 x 16, bf16, row) · b (16 x 8, bf16, col).
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
      "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Reads rows [k0, k0 + kBK) of one KV head (row j at base + j * kv_dim) into registers;
// rows at or past kv_len (never written) read as zeros.
template <int kD>
__device__ __forceinline__ void LoadTile(const float* base, int kv_dim, int64_t k0, int64_t kv_len,
                                         float4 (&stage)[kLoads<kD>]) {
#pragma unroll
  for (int i = 0; i < kLoads<kD>; ++i) {
    const int idx = i * kThreads + static_cast<int>(threadIdx.x);
    const int row = idx / (kD / 4), col = (idx % (kD / 4)) * 4;
    stage[i] = k0 + row < kv_len
                   ? __ldg(reinterpret_cast<const float4*>(base + (k0 + row) * kv_dim + col))
                   : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
}

// Rounds a LoadTile to bf16 into tile (kBK, kStride).
template <int kD>
__device__ __forceinline__ void StoreTile(const float4 (&stage)[kLoads<kD>], __nv_bfloat16* tile) {
#pragma unroll
  for (int i = 0; i < kLoads<kD>; ++i) {
    const int idx = i * kThreads + static_cast<int>(threadIdx.x);
    const int row = idx / (kD / 4), col = (idx % (kD / 4)) * 4;
    *reinterpret_cast<uint2*>(tile + row * kStride<kD> + col) =
        make_uint2(PackBf16(stage[i].x, stage[i].y), PackBf16(stage[i].z, stage[i].w));
  }
}

__device__ __forceinline__ float QuadMax(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float QuadSum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// kTree: the batch has a tree (p.tree_base and p.tree_masks set). Grid: (heads, num_tiles).
template <int kD, bool kTree>
__global__ void __launch_bounds__(kThreads) AttentionPrefillMmaKernel(MmaParams p) {
  constexpr int kS = kStride<kD>;
  constexpr int kDSteps = kD / 16;   // k-steps of Q Kᵀ
  constexpr int kKSteps = kBK / 16;  // k-steps of P V
  extern __shared__ __align__(16) unsigned char smem_raw[];
  auto* q_s = reinterpret_cast<__nv_bfloat16*>(smem_raw);  // (kBQ, kS) scaled queries
  __nv_bfloat16* k_s = q_s + kBQ * kS;                     // (kBK, kS) keys
  __nv_bfloat16* v_s = k_s + kBK * kS;                     // (kBK, kS) values

  const int tile = p.num_tiles - 1 - static_cast<int>(blockIdx.y);
  const int seq = p.tiles[2 * tile], first = p.tiles[2 * tile + 1];
  const int slot = p.seqs[4 * seq], start = p.seqs[4 * seq + 1];
  const int offset = p.seqs[4 * seq + 2], n_tokens = p.seqs[4 * seq + 3];
  const int h = static_cast<int>(blockIdx.x), hk = h / p.group;
  const int rows_valid = min(kBQ, n_tokens - first);
  const int64_t first_pos = int64_t{start} + first;  // cache row of query row 0
  const int64_t kv_len = first_pos + rows_valid;      // keys the last row sees
  const int64_t seq_offset = int64_t{slot} * p.max_seq_len * p.kv_dim + int64_t{hk} * kD;
  const float* k_seq = p.k_cache + seq_offset;  // key j at k_seq + j * kv_dim
  const float* v_seq = p.v_cache + seq_offset;
  const float* q_tile = p.q + (int64_t{offset} + first) * p.q_dim + int64_t{h} * kD;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, t = lane % 4;  // mma fragment row group and column pair

  for (int i = static_cast<int>(threadIdx.x); i < kBQ * (kD / 4); i += kThreads) {
    const int r = i / (kD / 4), col = (i % (kD / 4)) * 4;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < rows_valid) v = __ldg(reinterpret_cast<const float4*>(q_tile + int64_t{r} * p.q_dim + col));
    *reinterpret_cast<uint2*>(q_s + r * kS + col) =
        make_uint2(PackBf16(v.x * p.scale_log2, v.y * p.scale_log2),
                   PackBf16(v.z * p.scale_log2, v.w * p.scale_log2));
  }
  float4 stage[kLoads<kD>];
  LoadTile<kD>(k_seq, p.kv_dim, 0, kv_len, stage);
  __syncthreads();
  uint32_t qf[kDSteps][4];  // this warp's 16 query rows as A fragments
#pragma unroll
  for (int kk = 0; kk < kDSteps; ++kk) {
    LdMatrixX4(q_s + (warp * 16 + lane % 16) * kS + kk * 16 + (lane / 16) * 8, qf[kk]);
  }

  // Rows g and g + 8 of this warp; padding rows repeat the last valid row.
  const int warp_row = warp * 16;
  const bool warp_has_rows = warp_row < rows_valid;
  const int row0 = min(warp_row + g, rows_valid - 1), row1 = min(warp_row + g + 8, rows_valid - 1);
  const int64_t pos0 = first_pos + row0;  // their cache rows
  const int64_t pos1 = first_pos + row1;
  const int64_t warp_first = first_pos + min(warp_row, rows_valid - 1);
  const int64_t warp_last = first_pos + min(warp_row + 15, rows_valid - 1);
  // With a tree: the rows' masks and where they start; the warp's last row's tree_base (the
  // span's when any of its rows is a tree node, tree nodes following chain tokens).
  const uint64_t* mask0 = nullptr;  // (kTreeMaskWords)
  const uint64_t* mask1 = nullptr;
  int32_t tree_base0 = kChainTreeBase, tree_base1 = kChainTreeBase;
  int64_t warp_tree_base = kChainTreeBase;
  if constexpr (kTree) {
    const int64_t token0 = int64_t{offset} + first;  // the tile's first token
    mask0 = p.tree_masks + (token0 + row0) * kTreeMaskWords;
    mask1 = p.tree_masks + (token0 + row1) * kTreeMaskWords;
    tree_base0 = p.tree_base[token0 + row0];
    tree_base1 = p.tree_base[token0 + row1];
    warp_tree_base = p.tree_base[token0 + min(warp_row + 15, rows_valid - 1)];
  }
  float o[kD / 8][4] = {};  // O: column block dt, (row g: 2t, 2t+1; row g+8: 2t, 2t+1)
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // per-lane partial sums
  uint32_t pf[kKSteps][4];  // P as A fragments

  for (int64_t k0 = 0; k0 < kv_len; k0 += kBK) {
    StoreTile<kD>(stage, k_s);
    LoadTile<kD>(v_seq, p.kv_dim, k0, kv_len, stage);
    __syncthreads();  // K visible; every warp is done with the previous V
    const bool active = warp_has_rows && k0 <= warp_last;
    if (active) {
      float s[kBK / 8][4] = {};  // S: key block nt, same layout as O
#pragma unroll
      for (int kk = 0; kk < kDSteps; ++kk) {
#pragma unroll
        for (int nb = 0; nb < kBK / 16; ++nb) {
          uint32_t b[4];
          LdMatrixX4(k_s + (nb * 16 + (lane / 16) * 8 + lane % 8) * kS + kk * 16 +
                         ((lane / 8) % 2) * 8,
                     b);
          Mma(s[2 * nb], qf[kk], b[0], b[1]);
          Mma(s[2 * nb + 1], qf[kk], b[2], b[3]);
        }
      }
      // Masks where the tile crosses the diagonal or the end of the keys, or reaches the
      // tree of a warp with tree nodes.
      if (k0 + kBK - 1 > warp_first || (kTree && k0 + kBK > warp_tree_base)) {
        uint64_t seen0 = ~uint64_t{0}, seen1 = ~uint64_t{0};  // bit i: key k0 + i not masked
        if constexpr (kTree) {
          seen0 = TreeWindow(mask0, k0, tree_base0);
          seen1 = TreeWindow(mask1, k0, tree_base1);
        }
#pragma unroll
        for (int nt = 0; nt < kBK / 8; ++nt) {
          const int64_t key = k0 + nt * 8 + 2 * t;
          const int c = nt * 8 + 2 * t;  // its bit in the windows
          if (KeyHidden<kTree>(key, pos0, seen0, c)) s[nt][0] = -INFINITY;
          if (KeyHidden<kTree>(key + 1, pos0, seen0, c + 1)) s[nt][1] = -INFINITY;
          if (KeyHidden<kTree>(key, pos1, seen1, c)) s[nt][2] = -INFINITY;
          if (KeyHidden<kTree>(key + 1, pos1, seen1, c + 1)) s[nt][3] = -INFINITY;
        }
      }
      float mx0 = m0, mx1 = m1;
#pragma unroll
      for (int nt = 0; nt < kBK / 8; ++nt) {
        mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
        mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
      }
      // Finite for a chain: every row sees key 0 in the first tile. A tree node sees it too
      // unless its tree starts at row 0: its exponents are then taken against 0 until it
      // has seen a key.
      mx0 = QuadMax(mx0);
      mx1 = QuadMax(mx1);
      float ref0 = mx0, ref1 = mx1;
      if constexpr (kTree) {
        ref0 = mx0 == -INFINITY ? 0.0f : mx0;
        ref1 = mx1 == -INFINITY ? 0.0f : mx1;
      }
      const float alpha0 = exp2f(m0 - ref0), alpha1 = exp2f(m1 - ref1);
      m0 = mx0;
      m1 = mx1;
      float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
      for (int nt = 0; nt < kBK / 8; ++nt) {
        s[nt][0] = exp2f(s[nt][0] - ref0);
        s[nt][1] = exp2f(s[nt][1] - ref0);
        s[nt][2] = exp2f(s[nt][2] - ref1);
        s[nt][3] = exp2f(s[nt][3] - ref1);
        sum0 += s[nt][0] + s[nt][1];
        sum1 += s[nt][2] + s[nt][3];
      }
      l0 = l0 * alpha0 + sum0;
      l1 = l1 * alpha1 + sum1;
#pragma unroll
      for (int dt = 0; dt < kD / 8; ++dt) {
        o[dt][0] *= alpha0;
        o[dt][1] *= alpha0;
        o[dt][2] *= alpha1;
        o[dt][3] *= alpha1;
      }
      // The accumulator layout of two adjacent key blocks is the A layout of one k-step.
#pragma unroll
      for (int ks = 0; ks < kKSteps; ++ks) {
        pf[ks][0] = PackBf16(s[2 * ks][0], s[2 * ks][1]);
        pf[ks][1] = PackBf16(s[2 * ks][2], s[2 * ks][3]);
        pf[ks][2] = PackBf16(s[2 * ks + 1][0], s[2 * ks + 1][1]);
        pf[ks][3] = PackBf16(s[2 * ks + 1][2], s[2 * ks + 1][3]);
      }
    }
    StoreTile<kD>(stage, v_s);
    if (k0 + kBK < kv_len) LoadTile<kD>(k_seq, p.kv_dim, k0 + kBK, kv_len, stage);
    __syncthreads();  // V visible; every warp is done with K
    if (active) {
#pragma unroll
      for (int ks = 0; ks < kKSteps; ++ks) {
#pragma unroll
        for (int dp = 0; dp < kD / 16; ++dp) {
          uint32_t b[4];
          LdMatrixX4Trans(v_s + (ks * 16 + ((lane / 8) % 2) * 8 + lane % 8) * kS + dp * 16 +
                              (lane / 16) * 8,
                          b);
          Mma(o[2 * dp], pf[ks], b[0], b[1]);
          Mma(o[2 * dp + 1], pf[ks], b[2], b[3]);
        }
      }
    }
  }

  const float inv0 = 1.0f / QuadSum(l0), inv1 = 1.0f / QuadSum(l1);
  const int r0 = warp_row + g, r1 = r0 + 8;
  float* out0 = p.out + (int64_t{offset} + first + r0) * p.q_dim + int64_t{h} * kD + 2 * t;
  float* out1 = out0 + int64_t{8} * p.q_dim;
#pragma unroll
  for (int dt = 0; dt < kD / 8; ++dt) {
    if (r0 < rows_valid) {
      *reinterpret_cast<float2*>(out0 + dt * 8) = make_float2(o[dt][0] * inv0, o[dt][1] * inv0);
    }
    if (r1 < rows_valid) {
      *reinterpret_cast<float2*>(out1 + dt * 8) = make_float2(o[dt][2] * inv1, o[dt][3] * inv1);
    }
  }
}

template <int kD, bool kTree>
void LaunchKernel(const MmaParams& p, int64_t heads, cudaStream_t stream) {
  constexpr size_t kBytes = SharedBytes<kD>();
  STRATA_CUDA_CHECK(cudaFuncSetAttribute(AttentionPrefillMmaKernel<kD, kTree>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kBytes)));
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>(p.num_tiles));
  AttentionPrefillMmaKernel<kD, kTree><<<grid, kThreads, kBytes, stream>>>(p);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

template <int kD>
void Launch(const MmaParams& p, int64_t heads, cudaStream_t stream) {
  if (p.tree_masks != nullptr) {
    LaunchKernel<kD, true>(p, heads, stream);
  } else {
    LaunchKernel<kD, false>(p, heads, stream);
  }
}

}  // namespace

bool AttentionPrefillMmaSupports(int64_t head_dim) { return head_dim == 64 || head_dim == 128; }

void LaunchAttentionPrefillMma(const AttentionArgs& args, const int32_t* seqs,
                               const int32_t* tiles, int64_t num_tiles, cudaStream_t stream) {
  STRATA_CHECK(AttentionPrefillMmaSupports(args.head_dim));
  STRATA_CHECK(args.kv_heads > 0 && args.heads % args.kv_heads == 0);
  if (num_tiles == 0) return;
  STRATA_CHECK(num_tiles <= 65535);
  MmaParams p{};
  p.q = args.q;
  p.k_cache = args.k_cache;
  p.v_cache = args.v_cache;
  p.out = args.out;
  p.seqs = seqs;
  p.tiles = tiles;
  p.tree_base = args.tree_base;
  p.tree_masks = args.tree_masks;
  p.num_tiles = static_cast<int>(num_tiles);
  p.group = static_cast<int>(args.heads / args.kv_heads);
  p.kv_dim = static_cast<int>(args.kv_heads * args.head_dim);
  p.q_dim = static_cast<int>(args.heads * args.head_dim);
  p.max_seq_len = args.max_seq_len;
  p.scale_log2 =
      static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(args.head_dim)));
  if (args.head_dim == 64) {
    Launch<64>(p, args.heads, stream);
  } else {
    Launch<128>(p, args.heads, stream);
  }
}

}  // namespace strata::cuda
