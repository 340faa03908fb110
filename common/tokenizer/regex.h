// A compiled PCRE2 pattern (UTF + UCP, JIT where the platform has it) with the two uses the
// tokenizer has: splitting text into matches and the gaps between them, as HF `tokenizers`
// does with Oniguruma, and testing whether text starts with a match. `\s` and `\S` are read
// as Unicode White_Space, as in Oniguruma (PCRE2's UCP `\s` also takes U+180E).
// Private to the tokenizer. Thread-safety: immutable after Compile; the compiled code is
// shared and each call makes its own match data, so calls may run concurrently.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/util/status.h"

struct pcre2_real_code_8;  // pcre2_code with PCRE2_CODE_UNIT_WIDTH 8

namespace strata::tokenizer_internal {

// Receives one non-empty piece of text (a view into the text being split).
using PieceSink = std::function<Status(std::string_view piece)>;

class Regex {
 public:
  // `literal`: match `pattern` as plain text. Errors carry PCRE2's message and the offset in
  // the pattern; the caller adds where the pattern came from.
  static StatusOr<Regex> Compile(std::string_view pattern, bool literal);

  // Sends `text` (well-formed UTF-8) to `sink` as the matches and the gaps between them, in
  // order, skipping empty ones (HF's Split with behavior "Isolated"). Empty matches follow
  // the `onig` crate's find_iter. Stops at the first error from `sink` or from PCRE2.
  Status SplitIsolated(std::string_view text, const PieceSink& sink) const;

  // Whether the pattern matches at the start of `text` (well-formed UTF-8).
  StatusOr<bool> MatchesPrefix(std::string_view text) const;

 private:
  struct CodeDeleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  std::unique_ptr<pcre2_real_code_8, CodeDeleter> code_;
};

// Rewrites `\s` and `\S` escapes to `\p{White_Space}` and `\P{White_Space}` (inside and
// outside character classes), leaving `\\`, other escapes and \Q...\E text alone.
std::string RewriteWhitespaceEscapes(std::string_view pattern);

}  // namespace strata::tokenizer_internal
