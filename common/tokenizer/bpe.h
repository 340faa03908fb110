// The BPE model of a tokenizer.json, with the semantics of HF `tokenizers`: a vocabulary of
// token strings, ranked merges of token pairs, `ignore_merges` (a piece that is itself a token
// stays whole) and an optional unk token. A piece is split into characters, then the adjacent
// pair with the lowest merge rank (leftmost on ties) is merged until none is left, using a
// heap over a linked list of symbols: O(n log n) in the piece's length. Private to the
// tokenizer. Thread-safety: immutable after FromJson; EncodePiece may run concurrently as
// long as each caller has its own Scratch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/vocabulary.h"
#include "common/util/status.h"

namespace strata::tokenizer_internal {

class BpeModel {
 public:
  // A symbol of the piece being merged, linked to its live neighbours (-1: none).
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool merged_away;
  };
  // A possible merge of the symbol at `pos` with its right neighbour.
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
  };
  // Working memory for EncodePiece, reused across the pieces of one Encode call.
  struct Scratch {
    std::vector<Symbol> symbols;
    std::vector<Candidate> heap;
  };

  // `model` is tokenizer.json's "model" object. Only "BPE" without byte_fallback, dropout,
  // continuing_subword_prefix or end_of_word_suffix is supported.
  static StatusOr<BpeModel> FromJson(const Json& model, const JsonPath& at);

  // Appends the ids of one pre-tokenized piece, written in the vocabulary's alphabet.
  Status EncodePiece(std::string_view piece, Scratch* scratch, std::vector<int32_t>* out) const;

  const Vocabulary& vocabulary() const { return vocab_; }

 private:
  Status ParseVocab(const Json& vocab, const JsonPath& at);
  Status ParseMerges(const Json& merges, const JsonPath& at);
  Status AddMerge(std::string_view left, std::string_view right, uint32_t rank, const JsonPath& at,
                  std::string* buffer);
  Status SplitIntoSymbols(std::string_view piece, std::vector<Symbol>* symbols) const;
  // Appends the merge of the symbol at `pos` with its right neighbour, if there is one.
  bool AddCandidate(const std::vector<Symbol>& symbols, uint32_t pos,
                    std::vector<Candidate>* heap) const;
  // AddCandidate, keeping `heap` a heap.
  void PushCandidate(const std::vector<Symbol>& symbols, uint32_t pos,
                     std::vector<Candidate>* heap) const;
  void MergeAll(Scratch* scratch) const;

  Vocabulary vocab_;
  MergeTable merges_;
  bool ignore_merges_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;
};

}  // namespace strata::tokenizer_internal
