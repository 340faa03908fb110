// BatchLayout: the unit of work of every engine and backend entry point — a batch of
// sequences, each contributing a run of consecutive tokens (a prefill chunk: many tokens of
// one sequence; a decode step: one token of each of many sequences) or a token tree
// (speculative decoding: candidate continuations verified in one pass).
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <vector>

namespace strata {

// A sequence's token tree spans at most this many cache rows from its tree_base (the nodes a
// draft expanded and a verify pass holds): one bit per row in a token's tree mask.
inline constexpr int32_t kMaxTreeRows = 512;
inline constexpr int32_t kTreeMaskWords = kMaxTreeRows / 64;

struct SeqSpan {
  int32_t kv_slot = 0;       // which KV-cache slot holds this sequence
  int32_t start_pos = 0;     // cache row of its first token here = rows already cached
  int32_t token_offset = 0;  // index of its first token in BatchLayout::tokens
  int32_t n_tokens = 0;
  // -1: a chain — token i sits at row and position start_pos + i and attends to rows
  // [0, start_pos + i]. Otherwise a tree from this row on: a token at row r < tree_base is a
  // chain token as above; one at r >= tree_base attends to rows [0, tree_base) and to the
  // tree rows its mask names (its ancestors, cached or in this span, and itself), and its
  // position is the caller's (tree_base - 1 + its depth below the tree's root).
  int32_t tree_base = -1;
};

struct BatchLayout {
  std::vector<int32_t> tokens;     // (T) token ids, sequences back to back
  std::vector<int32_t> positions;  // (T) RoPE position of each token
  std::vector<SeqSpan> seqs;       // in token order
  // (T, kTreeMaskWords) when any span is a tree, else empty: bit b of a token's words set =
  // it attends to row tree_base + b of its sequence. Zero for chain tokens.
  std::vector<uint64_t> tree_masks;

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  bool has_tree() const { return !tree_masks.empty(); }
  // Appends `n` tokens of the sequence in `kv_slot` whose cache already holds `start_pos`.
  void Add(int32_t kv_slot, int32_t start_pos, const int32_t* ids, int32_t n);
  // Appends `n` tokens of a tree span (see SeqSpan::tree_base): ids, positions and masks
  // (n, kTreeMaskWords) per token; a chain token's mask is ignored.
  void AddTree(int32_t kv_slot, int32_t start_pos, int32_t tree_base, const int32_t* ids,
               const int32_t* token_positions, const uint64_t* masks, int32_t n);
  void Clear();
};

inline void BatchLayout::Add(int32_t kv_slot, int32_t start_pos, const int32_t* ids, int32_t n) {
  seqs.push_back({kv_slot, start_pos, n_tokens(), n});
  for (int32_t i = 0; i < n; ++i) {
    tokens.push_back(ids[i]);
    positions.push_back(start_pos + i);
  }
  if (has_tree()) tree_masks.resize(tokens.size() * kTreeMaskWords, 0);
}

inline void BatchLayout::AddTree(int32_t kv_slot, int32_t start_pos, int32_t tree_base,
                                 const int32_t* ids, const int32_t* token_positions,
                                 const uint64_t* masks, int32_t n) {
  tree_masks.resize(tokens.size() * kTreeMaskWords, 0);  // chain spans before this one
  seqs.push_back({kv_slot, start_pos, n_tokens(), n, tree_base});
  for (int32_t i = 0; i < n; ++i) {
    tokens.push_back(ids[i]);
    positions.push_back(token_positions[i]);
    const bool chain = start_pos + i < tree_base;
    for (int32_t w = 0; w < kTreeMaskWords; ++w) {
      tree_masks.push_back(chain ? 0 : masks[i * kTreeMaskWords + w]);
    }
  }
}

inline void BatchLayout::Clear() {
  tokens.clear();
  positions.clear();
  seqs.clear();
  tree_masks.clear();
}

}  // namespace strata
