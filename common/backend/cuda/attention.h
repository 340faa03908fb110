// Host launchers of causal grouped-query attention over the fp32 KV cache (KvLayer layout:
// K and V each (slots * max_seq_len, kv_dim); sequence slot s, row r at row
// s * max_seq_len + r). A token of a sequence sits at cache row start_pos + its index in its
// span; a chain token attends to rows [0, its row] of its slot. A tree node (a token at a row
// >= its span's tree_base, speculative decoding) attends to rows [0, tree_base) and to the
// rows [tree_base, its row] its mask names (SeqSpan::tree_base, BatchLayout::tree_masks):
// the others get a zero weight (a score of -inf in the online softmax; a key tile a query
// sees none of leaves its running max, sum and output as they were).
// Scores and softmax in fp32, scale 1 / sqrt(head_dim); head_dim <= 256 and a multiple of 4,
// heads / kv_heads <= 16. Each kernel is instantiated twice: for batches of chains only
// (AttentionArgs::tree_masks null), the code of a chain batch, and for batches with a tree.
//  * LaunchAttentionDecode: for a few query tokens per sequence (decode). Flash-decoding:
//    each warp takes one chunk of one token's keys for all query heads of one KV head, and
//    a second kernel merges the chunks, so one token over a long cache fills the GPU.
//  * LaunchAttentionPrefillMma: for many query tokens per sequence, head_dim 64 or 128.
//    Flash attention on tensor cores: a block takes a tile of kPrefillTileTokens queries of
//    one sequence and one head and walks the keys in tiles with an online softmax; Q, K, V
//    and the probabilities are rounded to bf16 for the products (fp32 accumulation, fp32
//    softmax), so it differs from the fp32 reference by about 5e-3 of the largest output
//    (tests/unit/cuda/cuda_attention_test.cc).
//  * LaunchAttentionPrefill: the same in fp32 on CUDA cores, for the other head sizes.
// Each launcher enqueues on `stream`. Thread-safety: reentrant; ordering is the stream's.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace strata::cuda {

inline constexpr int kPrefillTileTokens = 128;
// AttentionArgs::tree_base of a chain token: past every row, so no key falls under a mask.
inline constexpr int32_t kChainTreeBase = INT32_MAX;

struct AttentionArgs {
  const float* q = nullptr;        // (tokens, heads * head_dim)
  const float* k_cache = nullptr;  // (slots * max_seq_len, kv_heads * head_dim)
  const float* v_cache = nullptr;  // (slots * max_seq_len, kv_heads * head_dim)
  float* out = nullptr;            // (tokens, heads * head_dim)
  int64_t tokens = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_seq_len = 0;
  // Null for a batch of chains. Else (tokens) the row from which the token's mask decides
  // what it sees: its span's tree_base for a tree node, kChainTreeBase for a chain token.
  const int32_t* tree_base = nullptr;
  // (tokens, kTreeMaskWords) bit b: the token sees row tree_base + b; null with tree_base.
  const uint64_t* tree_masks = nullptr;
};

// Chunk partials for LaunchAttentionDecode: up to `floats` floats; sm_count sizes the split.
struct AttentionWorkspace {
  float* data = nullptr;
  size_t floats = 0;
  int sm_count = 1;
};

// rows (tokens: each token's cache row) and token_slot (tokens) on the device; max_kv_len =
// 1 + the largest row (the host knows it from the batch).
void LaunchAttentionDecode(const AttentionArgs& args, const int32_t* rows,
                           const int32_t* token_slot, int64_t max_kv_len,
                           const AttentionWorkspace& workspace, cudaStream_t stream);

// seqs (num_seqs, 4): kv_slot, start_pos, token_offset, n_tokens; tiles (num_tiles, 2):
// sequence index, first token within the sequence — every sequence cut into tiles of
// kPrefillTileTokens tokens. Both on the device.
void LaunchAttentionPrefill(const AttentionArgs& args, const int32_t* seqs, const int32_t* tiles,
                            int64_t num_tiles, cudaStream_t stream);

// Whether LaunchAttentionPrefillMma takes this head_dim; its arguments as
// LaunchAttentionPrefill's (at most 65535 tiles).
bool AttentionPrefillMmaSupports(int64_t head_dim);
void LaunchAttentionPrefillMma(const AttentionArgs& args, const int32_t* seqs,
                               const int32_t* tiles, int64_t num_tiles, cudaStream_t stream);

}  // namespace strata::cuda
