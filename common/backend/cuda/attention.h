// Host launchers of causal grouped-query attention over the fp32 KV cache (KvLayer layout:
// K and V each (slots * max_seq_len, kv_dim); sequence slot s, position p at row
// s * max_seq_len + p). Query token t attends to positions [0, position[t]] of its slot.
// Scores and softmax in fp32, scale 1 / sqrt(head_dim); head_dim <= 256 and a multiple of 4,
// heads / kv_heads <= 16.
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
};

// Chunk partials for LaunchAttentionDecode: up to `floats` floats; sm_count sizes the split.
struct AttentionWorkspace {
  float* data = nullptr;
  size_t floats = 0;
  int sm_count = 1;
};

// positions (tokens) and token_slot (tokens) on the device; max_kv_len = 1 + the largest
// position (the host knows it from the batch).
void LaunchAttentionDecode(const AttentionArgs& args, const int32_t* positions,
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
