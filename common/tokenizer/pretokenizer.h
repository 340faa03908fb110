// The pre-tokenizer of a byte-level BPE tokenizer.json: zero or more Split stages (a regex or
// a literal string, behavior "Isolated", not inverted), then ByteLevel (its optional prefix
// space, then with use_regex the GPT-2 split regex). Pieces come out as raw bytes; mapping
// them to the byte-level alphabet is left to the caller. Private to the tokenizer.
// Thread-safety: immutable after FromJson; Split may run concurrently.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/regex.h"
#include "common/util/status.h"

namespace strata::tokenizer_internal {

// The split pattern of HF's ByteLevel pre-tokenizer with use_regex (GPT-2's).
inline constexpr char kGpt2SplitPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class PreTokenizer {
 public:
  // `node` is tokenizer.json's "pre_tokenizer" (nullptr when null or absent). Other
  // pre-tokenizers are kUnimplemented naming their type.
  static StatusOr<PreTokenizer> FromJson(const Json* node, const JsonPath& at);

  // Sends the pieces of `text` (well-formed UTF-8 without added tokens) to `sink`.
  Status Split(std::string_view text, const PieceSink& sink) const;

 private:
  struct Stage {
    bool add_prefix_space = false;  // prepend ' ' to a piece that does not start with one
    std::optional<Regex> regex;     // split each piece with it, when set
  };
  static StatusOr<Stage> SplitStage(const Json& node, const JsonPath& at);
  static StatusOr<Stage> ByteLevelStage(const Json& node, const JsonPath& at);
  Status RunStage(size_t index, std::string_view piece, const PieceSink& sink) const;

  std::vector<Stage> stages_;
};

}  // namespace strata::tokenizer_internal
