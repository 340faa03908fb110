// Decode attention, flash-decoding style (see attention.h).
//
// A warp owns one chunk of keys of one query token and one KV head, for all `group` query
// heads that share that KV head. Keys go in tiles of 32, one per lane: each lane dots its key
// with every query head (queries in shared memory, K row read with 16-byte loads), the warp
// takes the tile's max per head, updates the running max / sum (online softmax, log2
// domain), then walks the tile's keys with lanes split over head_dim, broadcasting each
// key's probabilities by shuffle and accumulating p · v. A block is 4 warps on 4 consecutive
// chunks of the same (token, KV head), so they share the queries. With more than one chunk,
// every chunk writes (max, sum, unnormalised output) and a combine kernel merges them.
// A token's keys are its slot's rows [0, its row]. In a batch with a tree, a tree node's
// warp also takes the tile's 32 bits of its mask (TreeWindow): keys it does not see score
// -inf and skip their K row, and a tile it sees none of is skipped whole, so the running max
// stays -inf only in a chunk the token sees nothing of (the combine weighs that chunk 0; the
// token always sees its own row, so some chunk is finite).
#include <algorithm>
#include <cmath>

#include "common/backend/cuda/attention.h"
#include "common/backend/cuda/tree_mask.cuh"
#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kKeyTile = 32;
constexpr int64_t kMinChunkKeys = 32;  // a chunk has at least this many keys (one tile)
constexpr int64_t kWarpsPerSm = 16;    // chunks are added until about this many warps per SM
constexpr int kCombineThreads = 128;
constexpr unsigned kFullMask = 0xffffffffu;

struct DecodeParams {
  const float* q;             // (tokens, heads * head_dim)
  const float* k_cache;       // (slots * max_seq_len, kv_dim)
  const float* v_cache;       // (slots * max_seq_len, kv_dim)
  float* out;                 // (tokens, heads * head_dim), written when chunks == 1
  float* part_o;              // (tokens, heads, chunks, head_dim) unnormalised sum of p · v
  float* part_ml;             // (tokens, heads, chunks, 2) running max (log2 domain), sum of p
  const int32_t* rows;        // (tokens) cache row of each token
  const int32_t* token_slot;  // (tokens)
  const int32_t* tree_base;   // (tokens) see AttentionArgs; null in a batch of chains
  const uint64_t* tree_masks;  // (tokens, kTreeMaskWords); null in a batch of chains
  int heads, group, head_dim, kv_dim, chunks, chunk_keys;
  int64_t max_seq_len;
  float scale_log2;  // log2(e) / sqrt(head_dim)
};

__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// kG: query heads per KV head, rounded up to a power of two; kDL: head_dim / 32 rounded up;
// kTree: the batch has a tree (p.tree_base and p.tree_masks set).
// Grid: (ceil(chunks / kWarps), kv_heads, tokens).
template <int kG, int kDL, bool kTree>
__global__ void __launch_bounds__(kThreads) AttentionDecodeKernel(DecodeParams p) {
  constexpr int kDMax = 32 * kDL;
  __shared__ __align__(16) float q_s[kG][kDMax];  // this KV head's queries, pre-scaled
  const int t = blockIdx.z, hk = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float* q_tok = p.q + (int64_t{t} * p.heads + int64_t{hk} * p.group) * p.head_dim;
  for (int i = threadIdx.x; i < kG * kDMax; i += kThreads) {
    const int g = i / kDMax, d = i % kDMax;
    q_s[g][d] = g < p.group && d < p.head_dim ? q_tok[g * p.head_dim + d] * p.scale_log2 : 0.0f;
  }
  __syncthreads();
  const int chunk = blockIdx.x * kWarps + warp;
  if (chunk >= p.chunks) return;

  const int64_t kv_len = int64_t{p.rows[t]} + 1;
  const int64_t key_begin = int64_t{chunk} * p.chunk_keys;
  const int64_t key_end = min(kv_len, key_begin + p.chunk_keys);
  const int64_t seq_offset = int64_t{p.token_slot[t]} * p.max_seq_len * p.kv_dim + hk * p.head_dim;
  const float* k_seq = p.k_cache + seq_offset;  // row j at k_seq + j * kv_dim
  const float* v_seq = p.v_cache + seq_offset;
  const uint64_t* tree_mask = nullptr;  // (kTreeMaskWords) this token's, with a tree
  int32_t tree_base = kChainTreeBase;
  if constexpr (kTree) {
    tree_mask = p.tree_masks + int64_t{t} * kTreeMaskWords;
    tree_base = p.tree_base[t];
  }

  float m[kG], l[kG], o[kG][kDL];  // l: this lane's share of the sum of p
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < kDL; ++i) o[g][i] = 0.0f;
  }
  for (int64_t j0 = key_begin; j0 < key_end; j0 += kKeyTile) {
    // Scores of this lane's key for every query head.
    const int64_t key = j0 + lane;
    bool visible = key < key_end;
    if constexpr (kTree) {
      // The tile's keys this token sees (the same on every lane): none, and it is skipped.
      const int in_tile = static_cast<int>(min(int64_t{kKeyTile}, key_end - j0));
      const uint32_t seen = static_cast<uint32_t>(TreeWindow(tree_mask, j0, tree_base)) &
                            (kFullMask >> (kKeyTile - in_tile));
      if (seen == 0) continue;
      visible = ((seen >> lane) & 1u) != 0;
    }
    float s[kG];
#pragma unroll
    for (int g = 0; g < kG; ++g) s[g] = 0.0f;
    if (visible) {
      const float4* k_row = reinterpret_cast<const float4*>(k_seq + key * p.kv_dim);
#pragma unroll 4
      for (int d4 = 0; d4 < p.head_dim / 4; ++d4) {
        const float4 kv = __ldg(k_row + d4);
#pragma unroll
        for (int g = 0; g < kG; ++g) {
          const float4 qv = reinterpret_cast<const float4*>(q_s[g])[d4];
          s[g] = fmaf(qv.x, kv.x, fmaf(qv.y, kv.y, fmaf(qv.z, kv.z, fmaf(qv.w, kv.w, s[g]))));
        }
      }
    } else {
#pragma unroll
      for (int g = 0; g < kG; ++g) s[g] = -INFINITY;
    }
    // Online softmax: s becomes this lane's probability (0 past the chunk's end or masked).
    // The tile has a visible key, so m_new is finite.
#pragma unroll
    for (int g = 0; g < kG; ++g) {
      const float m_new = fmaxf(m[g], WarpMax(s[g]));
      const float alpha = exp2f(m[g] - m_new);
      s[g] = exp2f(s[g] - m_new);
      l[g] = l[g] * alpha + s[g];
#pragma unroll
      for (int i = 0; i < kDL; ++i) o[g][i] *= alpha;
      m[g] = m_new;
    }
    // o += p · v over the tile's keys, lanes split over head_dim.
    const int n_keys = static_cast<int>(min(int64_t{kKeyTile}, key_end - j0));
#pragma unroll 4
    for (int jj = 0; jj < n_keys; ++jj) {
      const float* v_row = v_seq + (j0 + jj) * p.kv_dim;
      float v[kDL];
#pragma unroll
      for (int i = 0; i < kDL; ++i) {
        const int d = lane + 32 * i;
        v[i] = d < p.head_dim ? __ldg(v_row + d) : 0.0f;
      }
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        const float pj = __shfl_sync(kFullMask, s[g], jj);
#pragma unroll
        for (int i = 0; i < kDL; ++i) o[g][i] = fmaf(pj, v[i], o[g][i]);
      }
    }
  }

  const int64_t head0 = int64_t{t} * p.heads + int64_t{hk} * p.group;  // (token, head) index
#pragma unroll
  for (int g = 0; g < kG; ++g) {
    const float sum = WarpSum(l[g]);
    if (g >= p.group) continue;
    if (p.chunks == 1) {
      float* dst = p.out + (head0 + g) * p.head_dim;
#pragma unroll
      for (int i = 0; i < kDL; ++i) {
        const int d = lane + 32 * i;
        if (d < p.head_dim) dst[d] = o[g][i] / sum;
      }
    } else {
      const int64_t part = (head0 + g) * p.chunks + chunk;
      float* dst = p.part_o + part * p.head_dim;
#pragma unroll
      for (int i = 0; i < kDL; ++i) {
        const int d = lane + 32 * i;
        if (d < p.head_dim) dst[d] = o[g][i];
      }
      if (lane == 0) {
        p.part_ml[2 * part] = m[g];
        p.part_ml[2 * part + 1] = sum;
      }
    }
  }
}

// One block per (token, head): out = sum_c 2^(m_c - M) o_c / sum_c 2^(m_c - M) l_c.
__global__ void __launch_bounds__(kCombineThreads)
    AttentionCombineKernel(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                           int chunks, int head_dim, float* __restrict__ out) {
  const int64_t head = blockIdx.x;
  const float* ml = part_ml + head * chunks * 2;
  float m_max = -INFINITY;
  for (int c = 0; c < chunks; ++c) m_max = fmaxf(m_max, ml[2 * c]);
  float den = 0.0f;
  for (int c = 0; c < chunks; ++c) den += exp2f(ml[2 * c] - m_max) * ml[2 * c + 1];
  for (int d = threadIdx.x; d < head_dim; d += kCombineThreads) {
    float num = 0.0f;
    for (int c = 0; c < chunks; ++c) {
      num += exp2f(ml[2 * c] - m_max) * part_o[(head * chunks + c) * head_dim + d];
    }
    out[head * head_dim + d] = num / den;
  }
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <int kG, int kDL>
void LaunchForTree(dim3 grid, const DecodeParams& p, cudaStream_t stream) {
  if (p.tree_masks != nullptr) {
    AttentionDecodeKernel<kG, kDL, true><<<grid, kThreads, 0, stream>>>(p);
  } else {
    AttentionDecodeKernel<kG, kDL, false><<<grid, kThreads, 0, stream>>>(p);
  }
}

template <int kG>
void LaunchForGroup(int d_per_lane, dim3 grid, const DecodeParams& p, cudaStream_t stream) {
  switch (d_per_lane) {
    case 1:
      LaunchForTree<kG, 1>(grid, p, stream);
      return;
    case 2:
      LaunchForTree<kG, 2>(grid, p, stream);
      return;
    case 4:
      LaunchForTree<kG, 4>(grid, p, stream);
      return;
    case 8:
      LaunchForTree<kG, 8>(grid, p, stream);
      return;
  }
  STRATA_CHECK_MSG(false, "unsupported head_dim");
}

int RoundUpPow2(int64_t v) {
  int r = 1;
  while (r < v) r *= 2;
  return r;
}

}  // namespace

void LaunchAttentionDecode(const AttentionArgs& args, const int32_t* rows,
                           const int32_t* token_slot, int64_t max_kv_len,
                           const AttentionWorkspace& workspace, cudaStream_t stream) {
  STRATA_CHECK(args.kv_heads > 0 && args.heads % args.kv_heads == 0);
  STRATA_CHECK(args.head_dim > 0 && args.head_dim <= 256 && args.head_dim % 4 == 0);
  const int64_t group = args.heads / args.kv_heads;
  STRATA_CHECK_MSG(group <= 16, "more than 16 query heads per KV head");
  if (args.tokens == 0) return;
  STRATA_CHECK(args.tokens <= 65535 && args.kv_heads <= 65535 && max_kv_len >= 1);

  // Enough chunks that the GPU has about kWarpsPerSm warps per SM, none shorter than
  // kMinChunkKeys keys, and partials that fit the workspace.
  const int64_t per_chunk_floats = args.tokens * args.heads * (args.head_dim + 2);
  int64_t chunks = CeilDiv(kWarpsPerSm * workspace.sm_count, args.tokens * args.kv_heads);
  chunks = std::min(chunks, CeilDiv(max_kv_len, kMinChunkKeys));
  chunks = std::min(chunks, static_cast<int64_t>(workspace.floats) / per_chunk_floats);
  chunks = std::max<int64_t>(chunks, 1);
  const int64_t chunk_keys = CeilDiv(CeilDiv(max_kv_len, chunks), kKeyTile) * kKeyTile;
  chunks = CeilDiv(max_kv_len, chunk_keys);

  DecodeParams p{};
  p.q = args.q;
  p.k_cache = args.k_cache;
  p.v_cache = args.v_cache;
  p.out = args.out;
  p.part_o = workspace.data;
  p.part_ml = workspace.data + args.tokens * args.heads * chunks * args.head_dim;
  p.rows = rows;
  p.token_slot = token_slot;
  p.tree_base = args.tree_base;
  p.tree_masks = args.tree_masks;
  p.heads = static_cast<int>(args.heads);
  p.group = static_cast<int>(group);
  p.head_dim = static_cast<int>(args.head_dim);
  p.kv_dim = static_cast<int>(args.kv_heads * args.head_dim);
  p.chunks = static_cast<int>(chunks);
  p.chunk_keys = static_cast<int>(chunk_keys);
  p.max_seq_len = args.max_seq_len;
  p.scale_log2 =
      static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(args.head_dim)));

  const dim3 grid(static_cast<unsigned>(CeilDiv(chunks, kWarps)),
                  static_cast<unsigned>(args.kv_heads), static_cast<unsigned>(args.tokens));
  const int d_per_lane = RoundUpPow2(CeilDiv(args.head_dim, 32));
  switch (RoundUpPow2(group)) {
    case 1:
      LaunchForGroup<1>(d_per_lane, grid, p, stream);
      break;
    case 2:
      LaunchForGroup<2>(d_per_lane, grid, p, stream);
      break;
    case 4:
      LaunchForGroup<4>(d_per_lane, grid, p, stream);
      break;
    case 8:
      LaunchForGroup<8>(d_per_lane, grid, p, stream);
      break;
    default:
      LaunchForGroup<16>(d_per_lane, grid, p, stream);
      break;
  }
  STRATA_CUDA_CHECK(cudaGetLastError());
  if (chunks > 1) {
    AttentionCombineKernel<<<static_cast<unsigned>(args.tokens * args.heads), kCombineThreads, 0,
                             stream>>>(p.part_o, p.part_ml, p.chunks, p.head_dim, args.out);
    STRATA_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace strata::cuda
