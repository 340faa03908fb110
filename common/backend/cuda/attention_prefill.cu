// Prefill attention: tiled flash attention on fp32 CUDA cores (see attention.h).
//
// A block of 256 threads owns 32 queries (a quarter of a kPrefillTileTokens tile) of one
// sequence and one query head. It walks the sequence's keys [0, last query row] in
// tiles of kBK: stage K (transposed) in shared memory, compute the 32 x kBK scores (each thread a 2 x kBK/16
// register tile), apply the causal mask and the online softmax (row max over the 16
// threads of a half-warp), stage the probabilities, reuse the K buffer for V and accumulate
// o += p · v (each thread 2 rows x head_dim/16 columns). Queries are pre-scaled by
// log2(e) / sqrt(head_dim) so the softmax uses exp2. Tiles run longest (latest) first.
// In a batch with a tree, each row also takes the tile's bits of its mask (TreeWindow) and
// masks the keys it does not see; a row that has seen no key yet (only a tree from row 0
// can) keeps a running max of -inf, its exponents taken against 0.
#include <algorithm>
#include <cmath>

#include "common/backend/cuda/attention.h"
#include "common/backend/cuda/tree_mask.cuh"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kBQ = 32;  // the thread layout gives each of 16 row groups 2 query rows
constexpr int kSubTiles = kPrefillTileTokens / kBQ;
static_assert(kPrefillTileTokens % kBQ == 0);

struct PrefillParams {
  const float* q;        // (tokens, heads * head_dim)
  const float* k_cache;  // (slots * max_seq_len, kv_dim)
  const float* v_cache;  // (slots * max_seq_len, kv_dim)
  float* out;            // (tokens, heads * head_dim)
  const int32_t* seqs;   // (num_seqs, 4) kv_slot, start_pos, token_offset, n_tokens
  const int32_t* tiles;  // (num_tiles, 2) sequence, first token within it
  const int32_t* tree_base;    // (tokens) see AttentionArgs; null in a batch of chains
  const uint64_t* tree_masks;  // (tokens, kTreeMaskWords); null in a batch of chains
  int num_tiles, group, head_dim, kv_dim, q_dim;
  int64_t max_seq_len;
  float scale_log2;  // log2(e) / sqrt(head_dim)
};

template <int kD, int kBK>
constexpr size_t SharedBytes() {
  return sizeof(float) * (size_t{kD} * kBQ + size_t{kD} * kBK + size_t{kBQ} * (kBK + 4));
}

// Max (or sum) over the 16 lanes of a half-warp that share a query row pair.
__device__ __forceinline__ float RowMax(float v) {
  for (int offset = 8; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
__device__ __forceinline__ float RowSum(float v) {
  for (int offset = 8; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// kD: head_dim rounded up to 64, 128 or 256; kBK: keys per tile; kTree: the batch has a tree
// (p.tree_base and p.tree_masks set). Grid: (num_tiles * kSubTiles, heads); a block whose
// sub-tile is past its sequence's end returns.
template <int kD, int kBK, bool kTree>
__global__ void __launch_bounds__(kThreads) AttentionPrefillKernel(PrefillParams p) {
  constexpr int kSC = kBK / 16;      // score columns per thread
  constexpr int kOC = kD / 16;       // output columns per thread, in groups of 4 every 64
  constexpr int kPStride = kBK + 4;  // padded row of p_s
  static_assert(kSC == 2 || kSC == 4, "kBK must be 32 or 64");
  extern __shared__ __align__(16) float smem[];
  float* q_s = smem;             // (kD, kBQ) queries, transposed and pre-scaled
  float* kv_s = q_s + kD * kBQ;  // (kD, kBK) keys transposed, then (kBK, kD) values
  float* p_s = kv_s + kD * kBK;  // (kBQ, kPStride) probabilities

  const int tile = p.num_tiles - 1 - static_cast<int>(blockIdx.x) / kSubTiles;
  const int sub = kSubTiles - 1 - static_cast<int>(blockIdx.x) % kSubTiles;
  const int seq = p.tiles[2 * tile], first = p.tiles[2 * tile + 1] + sub * kBQ;
  const int slot = p.seqs[4 * seq], start = p.seqs[4 * seq + 1];
  const int offset = p.seqs[4 * seq + 2], n_tokens = p.seqs[4 * seq + 3];
  if (first >= n_tokens) return;
  const int h = blockIdx.y, hk = h / p.group;
  const int rows_valid = min(kBQ, n_tokens - first);
  const int64_t kv_len = int64_t{start} + first + rows_valid;  // keys the last row sees
  const int64_t seq_offset = int64_t{slot} * p.max_seq_len * p.kv_dim + int64_t{hk} * p.head_dim;
  const float* k_seq = p.k_cache + seq_offset;  // key j at k_seq + j * kv_dim
  const float* v_seq = p.v_cache + seq_offset;
  const float* q_tile = p.q + (int64_t{offset} + first) * p.q_dim + int64_t{h} * p.head_dim;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;

  for (int i = tid; i < kBQ * (kD / 4); i += kThreads) {
    const int r = i % kBQ, d = (i / kBQ) * 4;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < rows_valid && d < p.head_dim) {
      v = __ldg(reinterpret_cast<const float4*>(q_tile + int64_t{r} * p.q_dim + d));
    }
    q_s[(d + 0) * kBQ + r] = v.x * p.scale_log2;
    q_s[(d + 1) * kBQ + r] = v.y * p.scale_log2;
    q_s[(d + 2) * kBQ + r] = v.z * p.scale_log2;
    q_s[(d + 3) * kBQ + r] = v.w * p.scale_log2;
  }
  int64_t q_row[2];  // cache rows of this thread's rows (padding rows repeat the last one)
  const uint64_t* tree_mask[2] = {};  // (kTreeMaskWords) each row's, with a tree
  int32_t tree_base[2] = {kChainTreeBase, kChainTreeBase};
  float m[2], l[2], o[2][kOC];
#pragma unroll
  for (int ii = 0; ii < 2; ++ii) {
    const int r = min(ty * 2 + ii, rows_valid - 1);
    q_row[ii] = int64_t{start} + first + r;
    if constexpr (kTree) {
      const int64_t token = int64_t{offset} + first + r;
      tree_mask[ii] = p.tree_masks + token * kTreeMaskWords;
      tree_base[ii] = p.tree_base[token];
    }
    m[ii] = -INFINITY;
    l[ii] = 0.0f;
#pragma unroll
    for (int c = 0; c < kOC; ++c) o[ii][c] = 0.0f;
  }

  for (int64_t k0 = 0; k0 < kv_len; k0 += kBK) {
    __syncthreads();  // queries staged / the previous tile's values and probabilities used
    for (int i = tid; i < kBK * (kD / 4); i += kThreads) {
      const int j = i % kBK, d = (i / kBK) * 4;
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (k0 + j < kv_len && d < p.head_dim) {
        v = __ldg(reinterpret_cast<const float4*>(k_seq + (k0 + j) * p.kv_dim + d));
      }
      kv_s[(d + 0) * kBK + j] = v.x;
      kv_s[(d + 1) * kBK + j] = v.y;
      kv_s[(d + 2) * kBK + j] = v.z;
      kv_s[(d + 3) * kBK + j] = v.w;
    }
    __syncthreads();

    float s[2][kSC] = {};  // scores of rows ty*2 + ii, keys k0 + tx*kSC + jj
#pragma unroll 4
    for (int d = 0; d < p.head_dim; ++d) {
      const float2 qv = *reinterpret_cast<const float2*>(q_s + d * kBQ + ty * 2);
      float kk[kSC];
      if constexpr (kSC == 4) {
        const float4 k4 = *reinterpret_cast<const float4*>(kv_s + d * kBK + tx * 4);
        kk[0] = k4.x, kk[1] = k4.y, kk[2] = k4.z, kk[3] = k4.w;
      } else {
        const float2 k2 = *reinterpret_cast<const float2*>(kv_s + d * kBK + tx * 2);
        kk[0] = k2.x, kk[1] = k2.y;
      }
#pragma unroll
      for (int jj = 0; jj < kSC; ++jj) {
        s[0][jj] = fmaf(qv.x, kk[jj], s[0][jj]);
        s[1][jj] = fmaf(qv.y, kk[jj], s[1][jj]);
      }
    }
#pragma unroll
    for (int ii = 0; ii < 2; ++ii) {
      uint64_t seen = ~uint64_t{0};  // bit i: key k0 + i is not masked by the tree
      if constexpr (kTree) seen = TreeWindow(tree_mask[ii], k0, tree_base[ii]);
      float tile_max = -INFINITY;
#pragma unroll
      for (int jj = 0; jj < kSC; ++jj) {
        if (KeyHidden<kTree>(k0 + tx * kSC + jj, q_row[ii], seen, tx * kSC + jj)) {
          s[ii][jj] = -INFINITY;
        }
        tile_max = fmaxf(tile_max, s[ii][jj]);
      }
      const float m_new = fmaxf(m[ii], RowMax(tile_max));
      // The exponents' reference: m_new, or 0 while the row has seen no key (a tree only).
      float m_ref = m_new;
      if constexpr (kTree) m_ref = m_new == -INFINITY ? 0.0f : m_new;
      const float alpha = exp2f(m[ii] - m_ref);
      float sum = 0.0f;
#pragma unroll
      for (int jj = 0; jj < kSC; ++jj) {
        s[ii][jj] = exp2f(s[ii][jj] - m_ref);
        sum += s[ii][jj];
      }
      l[ii] = l[ii] * alpha + sum;
#pragma unroll
      for (int c = 0; c < kOC; ++c) o[ii][c] *= alpha;
      m[ii] = m_new;
      float* p_row = p_s + (ty * 2 + ii) * kPStride + tx * kSC;
      if constexpr (kSC == 4) {
        *reinterpret_cast<float4*>(p_row) = make_float4(s[ii][0], s[ii][1], s[ii][2], s[ii][3]);
      } else {
        *reinterpret_cast<float2*>(p_row) = make_float2(s[ii][0], s[ii][1]);
      }
    }
    __syncthreads();  // keys used, probabilities visible

    for (int i = tid; i < kBK * (kD / 4); i += kThreads) {
      const int j = i / (kD / 4), d = (i % (kD / 4)) * 4;
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (k0 + j < kv_len && d < p.head_dim) {
        v = __ldg(reinterpret_cast<const float4*>(v_seq + (k0 + j) * p.kv_dim + d));
      }
      *reinterpret_cast<float4*>(kv_s + j * kD + d) = v;
    }
    __syncthreads();

#pragma unroll 2
    for (int j = 0; j < kBK; j += 4) {
      const float4 pa = *reinterpret_cast<const float4*>(p_s + (ty * 2) * kPStride + j);
      const float4 pb = *reinterpret_cast<const float4*>(p_s + (ty * 2 + 1) * kPStride + j);
      const float p0[4] = {pa.x, pa.y, pa.z, pa.w};
      const float p1[4] = {pb.x, pb.y, pb.z, pb.w};
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
        for (int grp = 0; grp < kOC / 4; ++grp) {
          const float4 v =
              *reinterpret_cast<const float4*>(kv_s + (j + jj) * kD + grp * 64 + tx * 4);
          o[0][grp * 4 + 0] = fmaf(p0[jj], v.x, o[0][grp * 4 + 0]);
          o[0][grp * 4 + 1] = fmaf(p0[jj], v.y, o[0][grp * 4 + 1]);
          o[0][grp * 4 + 2] = fmaf(p0[jj], v.z, o[0][grp * 4 + 2]);
          o[0][grp * 4 + 3] = fmaf(p0[jj], v.w, o[0][grp * 4 + 3]);
          o[1][grp * 4 + 0] = fmaf(p1[jj], v.x, o[1][grp * 4 + 0]);
          o[1][grp * 4 + 1] = fmaf(p1[jj], v.y, o[1][grp * 4 + 1]);
          o[1][grp * 4 + 2] = fmaf(p1[jj], v.z, o[1][grp * 4 + 2]);
          o[1][grp * 4 + 3] = fmaf(p1[jj], v.w, o[1][grp * 4 + 3]);
        }
      }
    }
  }

#pragma unroll
  for (int ii = 0; ii < 2; ++ii) {
    const float inv = 1.0f / RowSum(l[ii]);
    const int r = ty * 2 + ii;
    if (r >= rows_valid) continue;
    float* dst = p.out + (int64_t{offset} + first + r) * p.q_dim + int64_t{h} * p.head_dim;
#pragma unroll
    for (int grp = 0; grp < kOC / 4; ++grp) {
      const int col = grp * 64 + tx * 4;
      if (col >= p.head_dim) continue;
      *reinterpret_cast<float4*>(dst + col) =
          make_float4(o[ii][grp * 4] * inv, o[ii][grp * 4 + 1] * inv, o[ii][grp * 4 + 2] * inv,
                      o[ii][grp * 4 + 3] * inv);
    }
  }
}

template <int kD, int kBK, bool kTree>
void LaunchKernel(const PrefillParams& p, int64_t heads, cudaStream_t stream) {
  constexpr size_t kBytes = SharedBytes<kD, kBK>();
  STRATA_CUDA_CHECK(cudaFuncSetAttribute(AttentionPrefillKernel<kD, kBK, kTree>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kBytes)));
  const dim3 grid(static_cast<unsigned>(p.num_tiles * kSubTiles), static_cast<unsigned>(heads));
  AttentionPrefillKernel<kD, kBK, kTree><<<grid, kThreads, kBytes, stream>>>(p);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

template <int kD, int kBK>
void Launch(const PrefillParams& p, int64_t heads, cudaStream_t stream) {
  if (p.tree_masks != nullptr) {
    LaunchKernel<kD, kBK, true>(p, heads, stream);
  } else {
    LaunchKernel<kD, kBK, false>(p, heads, stream);
  }
}

}  // namespace

void LaunchAttentionPrefill(const AttentionArgs& args, const int32_t* seqs, const int32_t* tiles,
                            int64_t num_tiles, cudaStream_t stream) {
  STRATA_CHECK(args.kv_heads > 0 && args.heads % args.kv_heads == 0 && args.heads <= 65535);
  STRATA_CHECK(args.head_dim > 0 && args.head_dim <= 256 && args.head_dim % 4 == 0);
  if (num_tiles == 0) return;
  STRATA_CHECK(num_tiles <= 0x7fffffff / kSubTiles);
  PrefillParams p{};
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
  p.head_dim = static_cast<int>(args.head_dim);
  p.kv_dim = static_cast<int>(args.kv_heads * args.head_dim);
  p.q_dim = static_cast<int>(args.heads * args.head_dim);
  p.max_seq_len = args.max_seq_len;
  p.scale_log2 =
      static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(args.head_dim)));
  if (args.head_dim <= 64) {
    Launch<64, 64>(p, args.heads, stream);
  } else if (args.head_dim <= 128) {
    Launch<128, 64>(p, args.heads, stream);
  } else {
    Launch<256, 32>(p, args.heads, stream);
  }
}

}  // namespace strata::cuda
