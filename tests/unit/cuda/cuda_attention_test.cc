// CudaBackend::StoreKv and Attention against the CPU reference: three sequences of different
// lengths and start positions in one batch, decode (flash-decoding kernel, with chunk
// merging over long caches) and prefill (tiled kernels), head_dim 128 (70B), 16 (the tiny
// model), 64 with 3 query heads per KV head, and 256. Prefill with head_dim 64 or 128 runs
// on tensor cores with bf16 operands, so it has a bf16 tolerance; the rest are fp32. Cache
// rows no sequence has written are NaN, so reading one shows up as a NaN in the output.
// Token trees (speculative decoding) through each kernel: a tree after a chain root, a tree
// over rows an earlier pass cached (the draft's case), a tree from row 0, mixed with chains
// in one batch; random trees with deep paths, so masks span several words.
// Needs a GPU: labelled `gpu`.
#include <limits>
#include <random>

#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/token_tree.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

constexpr double kF32Tol = 2e-5;
constexpr double kBf16Tol = 1e-2;  // tensor-core prefill: Q, K, V and P rounded to bf16

struct SeqSetup {
  int32_t slot, start, n_tokens;
  // -1: a chain. Else a random tree over rows [tree_base, start + n_tokens): rows before
  // `start` were cached by an earlier pass, rows from `start` to tree_base are chain tokens.
  int32_t tree_base = -1;
};

// `nodes` nodes: each one's parent is the node before it half of the time (deep paths), else
// the root or any earlier node.
TokenTree RandomTree(int32_t nodes, uint32_t seed) {
  std::mt19937 rng(seed);
  TokenTree tree;
  for (int32_t i = 0; i < nodes; ++i) {
    const int32_t parent = rng() % 2 == 0 ? i - 1
                                          : static_cast<int32_t>(rng() % (i + 1)) - 1;
    tree.Add(parent, 1);
  }
  return tree;
}

// Appends `s` to `batch`: a chain, or its part of a random tree (see SeqSetup).
void AddSpan(const SeqSetup& s, uint32_t seed, BatchLayout* batch) {
  if (s.tree_base < 0) {
    const std::vector<int32_t> ids(static_cast<size_t>(s.n_tokens), 1);
    batch->Add(s.slot, s.start, ids.data(), s.n_tokens);
    return;
  }
  const TokenTree tree = RandomTree(s.start + s.n_tokens - s.tree_base, seed);
  const std::vector<int32_t> chain(static_cast<size_t>(std::max(0, s.tree_base - s.start)), 1);
  const int32_t first = std::max(0, s.start - s.tree_base);
  tree.AppendSpan(*batch, s.slot, s.start, chain, first,
                  s.n_tokens - static_cast<int32_t>(chain.size()), s.tree_base);
}

struct AttentionCase {
  std::string name;
  int64_t heads, kv_heads, head_dim;
  int32_t max_seq_len;
  std::vector<SeqSetup> seqs;
  double tolerance = kF32Tol;
};

void RunCase(Backend& gpu, const AttentionCase& c) {
  SCOPED_TRACE(c.name);
  CpuBackend cpu;
  const int64_t kv_dim = c.kv_heads * c.head_dim, q_dim = c.heads * c.head_dim;
  int32_t slots = 0;
  BatchLayout batch;
  for (const SeqSetup& s : c.seqs) {
    slots = std::max(slots, s.slot + 1);
    AddSpan(s, static_cast<uint32_t>(7 + s.slot), &batch);
  }
  const int64_t t = batch.n_tokens();
  const int64_t cache_rows = int64_t{slots} * c.max_seq_len;

  // Caches: NaN everywhere, then random keys and values at the positions already cached.
  std::vector<float> k_cache(static_cast<size_t>(cache_rows * kv_dim),
                             std::numeric_limits<float>::quiet_NaN());
  std::vector<float> v_cache = k_cache;
  const std::vector<float> k_old = RandomFloats(k_cache.size(), 100, 1.0f);
  const std::vector<float> v_old = RandomFloats(v_cache.size(), 101, 1.0f);
  for (const SeqSetup& s : c.seqs) {
    const size_t first = static_cast<size_t>(int64_t{s.slot} * c.max_seq_len * kv_dim);
    const size_t count = static_cast<size_t>(int64_t{s.start} * kv_dim);
    std::copy_n(k_old.begin() + first, count, k_cache.begin() + first);
    std::copy_n(v_old.begin() + first, count, v_cache.begin() + first);
  }
  MirroredF32 kc(gpu, k_cache, cache_rows, kv_dim), vc(gpu, v_cache, cache_rows, kv_dim);
  const KvLayer cpu_cache{kc.cpu(), vc.cpu(), c.max_seq_len};
  const KvLayer gpu_cache{kc.gpu(), vc.gpu(), c.max_seq_len};

  MirroredF32 k(gpu, RandomFloats(t * kv_dim, 102), t, kv_dim);
  MirroredF32 v(gpu, RandomFloats(t * kv_dim, 103), t, kv_dim);
  MirroredF32 q(gpu, RandomFloats(t * q_dim, 104, 2.0f), t, q_dim);
  MirroredF32 out(gpu, std::vector<float>(t * q_dim), t, q_dim);
  const AttentionShape shape{c.heads, c.kv_heads, c.head_dim};
  cpu.BeginBatch(batch);
  gpu.BeginBatch(batch);
  cpu.StoreKv(k.cpu(), v.cpu(), cpu_cache);
  gpu.StoreKv(k.gpu(), v.gpu(), gpu_cache);
  cpu.Attention(q.cpu(), cpu_cache, shape, out.cpu());
  gpu.Attention(q.gpu(), gpu_cache, shape, out.gpu());

  // The cache rows each sequence now holds are bit-identical.
  const std::vector<float> k_gpu = Download(gpu, kc.gpu()), v_gpu = Download(gpu, vc.gpu());
  for (const SeqSetup& s : c.seqs) {
    const size_t first = static_cast<size_t>(int64_t{s.slot} * c.max_seq_len * kv_dim);
    const size_t count = static_cast<size_t>((int64_t{s.start} + s.n_tokens) * kv_dim);
    EXPECT_TRUE(
        std::equal(k_gpu.begin() + first, k_gpu.begin() + first + count, kc.host.begin() + first))
        << "K cache of slot " << s.slot;
    EXPECT_TRUE(
        std::equal(v_gpu.begin() + first, v_gpu.begin() + first + count, vc.host.begin() + first))
        << "V cache of slot " << s.slot;
  }
  ExpectClose(Download(gpu, out.gpu()), out.host, q_dim, c.tolerance, "Attention " + c.name);
}

TEST(CudaAttention, DecodeMatchesCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const AttentionCase cases[] = {
      {"70b decode", 64, 8, 128, 512, {{2, 0, 1}, {0, 37, 1}, {1, 300, 1}}},
      {"70b decode, long caches, up to 4 tokens",
       64,
       8,
       128,
       4200,
       {{0, 4000, 1}, {1, 1500, 2}, {2, 17, 4}}},
      {"70b decode, one token over 12k keys", 64, 8, 128, 12288, {{0, 12000, 1}}},
      {"tiny decode", 4, 2, 16, 64, {{1, 0, 1}, {0, 10, 1}, {2, 40, 1}}},
      {"group 3, head_dim 64 decode", 24, 8, 64, 700, {{0, 5, 1}, {1, 650, 3}}},
      {"head_dim 256 decode", 8, 2, 256, 2048, {{1, 1999, 1}, {0, 3, 2}}},
  };
  for (const AttentionCase& c : cases) RunCase(*gpu, c);
}

TEST(CudaAttention, PrefillMatchesCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const AttentionCase cases[] = {
      {"70b prefill", 64, 8, 128, 512, {{2, 0, 45}, {0, 37, 1}, {1, 300, 70}}, kBf16Tol},
      {"70b prefill, long", 64, 8, 128, 1024, {{0, 0, 300}, {1, 100, 64}}, kBf16Tol},
      {"70b prefill, chunks after long prefixes",
       64,
       8,
       128,
       1200,
       {{1, 900, 130}, {0, 0, 129}, {2, 1000, 200}},
       kBf16Tol},
      {"tiny prefill", 4, 2, 16, 64, {{1, 0, 28}, {0, 5, 6}, {2, 0, 1}}},
      {"group 3, head_dim 64 prefill", 24, 8, 64, 700, {{0, 0, 33}, {1, 600, 40}}, kBf16Tol},
      {"head_dim 256 prefill", 8, 2, 256, 512, {{0, 0, 97}, {1, 200, 5}}},
  };
  for (const AttentionCase& c : cases) RunCase(*gpu, c);
}

// Trees that take the decode kernel (at most CudaBackend::kDecodeMaxTokens tokens a
// sequence): a chain root and its first nodes; nodes of a tree whose earlier nodes are cached
// (tree_base below start); one token over a long cache whose last 400 rows are tree rows it
// mostly does not see (whole chunks and key tiles masked, merged by the combine kernel); a
// tree from row 0; each beside a chain.
TEST(CudaAttention, TreeDecodeMatchesCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const AttentionCase cases[] = {
      {"70b tree decode",
       64,
       8,
       128,
       512,
       {{0, 37, 1}, {1, 50, 4, 51}, {2, 300, 3, 290}}},
      {"70b tree decode, 400 cached tree rows under 12k keys",
       64,
       8,
       128,
       12288,
       {{0, 12000, 2, 11600}, {1, 17, 1}}},
      {"tiny tree decode", 4, 2, 16, 600, {{0, 0, 3, 0}, {1, 40, 2, 20}, {2, 500, 1}}},
      {"group 3, head_dim 64 tree decode", 24, 8, 64, 700, {{0, 650, 4, 600}, {1, 5, 1}}},
  };
  for (const AttentionCase& c : cases) RunCase(*gpu, c);
}

// Trees that take the prefill kernels: spans of 40 and 200 tokens after a chain root, a
// draft's pass over cached tree rows, a tree from row 0 (rows whose first key tiles are all
// masked), beside chains; head_dim 128 and 64 on tensor cores, 16 and 256 in fp32.
TEST(CudaAttention, TreePrefillMatchesCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const AttentionCase cases[] = {
      {"70b tree prefill, 40 and 200 tokens",
       64,
       8,
       128,
       1024,
       {{0, 37, 40, 38}, {1, 300, 200, 301}, {2, 100, 64}},
       kBf16Tol},
      {"70b tree prefill, draft pass over cached tree rows and a tree from row 0",
       64,
       8,
       128,
       1024,
       {{0, 700, 30, 600}, {1, 0, 150, 0}, {2, 5, 1}},
       kBf16Tol},
      {"group 3, head_dim 64 tree prefill", 24, 8, 64, 700, {{0, 10, 200, 11}, {1, 600, 40}},
       kBf16Tol},
      {"tiny tree prefill, 40 and 200 tokens",
       4,
       2,
       16,
       600,
       {{0, 37, 40, 38}, {1, 300, 200, 301}, {2, 0, 130, 0}, {3, 0, 28}}},
      {"head_dim 256 tree prefill", 8, 2, 256, 512, {{0, 200, 140, 150}, {1, 0, 97}}},
  };
  for (const AttentionCase& c : cases) RunCase(*gpu, c);
}

}  // namespace
}  // namespace strata::testing
