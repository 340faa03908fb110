// Added tokens of tokenizer.json ("added_tokens"): special and other tokens found in the raw
// text before pre-tokenization, as HF's AddedVocabulary does: non-overlapping leftmost-longest
// matches of the tokens with normalized=false, then, in the text between them, of those with
// normalized=true (on the same text: Strata supports no normalizer), honouring single_word,
// lstrip and rstrip. Matching walks a byte trie from each position whose first byte can start a
// token, so it costs O(text length x longest token) at worst. Private to the tokenizer.
// Thread-safety: immutable after Create; Split may run concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/regex.h"
#include "common/util/status.h"

namespace strata::tokenizer_internal {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;  // match only where not inside a word
  bool lstrip = false;       // absorb the whitespace before the token
  bool rstrip = false;       // absorb the whitespace after the token
  bool normalized = false;
  bool special = false;
};

// Reads tokenizer.json's "added_tokens" (`node` nullptr when null or absent).
StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Json* node, const JsonPath& at);

// A range [begin, end) of the text: plain text when token_id < 0, else one added token (with
// any whitespace it absorbed).
struct Segment {
  size_t begin;
  size_t end;
  int32_t token_id;
};

// A byte trie of token contents with a first-byte table at the root.
class TokenTrie {
 public:
  TokenTrie() { root_children_.fill(-1); }
  // Keeps the first value given for a key.
  void Insert(std::string_view key, int32_t value);
  // The length and value of the longest key that starts at `pos`; length 0 when none.
  std::pair<size_t, int32_t> LongestAt(std::string_view text, size_t pos) const;

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    int32_t value = -1;
  };
  int32_t Child(int32_t node, uint8_t byte) const;

  std::vector<Node> nodes_ = std::vector<Node>(1);
  std::array<int32_t, 256> root_children_;
};

class AddedTokenMatcher {
 public:
  static StatusOr<AddedTokenMatcher> Create(std::vector<AddedToken> tokens);

  // Splits `text` (well-formed UTF-8) into plain-text and added-token segments, in order;
  // empty text segments are left out.
  Status Split(std::string_view text, std::vector<Segment>* out) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // HF's AddedVocabulary::find_matches over `sentence`, which starts at `offset` in the text.
  Status SplitWith(const TokenTrie& trie, std::string_view sentence, size_t offset,
                   std::vector<Segment>* out) const;
  StatusOr<bool> IsSingleWord(std::string_view sentence, size_t start, size_t stop) const;

  std::vector<AddedToken> tokens_;
  TokenTrie raw_trie_;              // tokens with normalized=false
  TokenTrie normalized_trie_;       // tokens with normalized=true
  std::optional<Regex> word_char_;  // Rust regex's \w; set when a token has single_word
};

}  // namespace strata::tokenizer_internal
