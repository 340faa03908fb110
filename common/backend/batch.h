// BatchLayout: the unit of work of every engine and backend entry point — a batch of
// sequences, each contributing a run of consecutive tokens (a prefill chunk: many tokens of
// one sequence; a decode step: one token of each of many sequences).
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <vector>

namespace strata {

struct SeqSpan {
  int32_t kv_slot = 0;       // which KV-cache slot holds this sequence
  int32_t start_pos = 0;     // position of its first token here = tokens already cached
  int32_t token_offset = 0;  // index of its first token in BatchLayout::tokens
  int32_t n_tokens = 0;
};

struct BatchLayout {
  std::vector<int32_t> tokens;     // (T) token ids, sequences back to back
  std::vector<int32_t> positions;  // (T) absolute position of each token
  std::vector<SeqSpan> seqs;       // in token order

  int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
  // Appends `n` tokens of the sequence in `kv_slot` whose cache already holds `start_pos`.
  void Add(int32_t kv_slot, int32_t start_pos, const int32_t* ids, int32_t n);
  void Clear();
};

inline void BatchLayout::Add(int32_t kv_slot, int32_t start_pos, const int32_t* ids, int32_t n) {
  seqs.push_back({kv_slot, start_pos, n_tokens(), n});
  for (int32_t i = 0; i < n; ++i) {
    tokens.push_back(ids[i]);
    positions.push_back(start_pos + i);
  }
}

inline void BatchLayout::Clear() {
  tokens.clear();
  positions.clear();
  seqs.clear();
}

}  // namespace strata
