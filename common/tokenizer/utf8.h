// UTF-8 decoding by the Unicode "maximal subpart" rule, as Rust's String::from_utf8_lossy
// (which Hugging Face `tokenizers` uses to decode): validation that reports the offset of the
// first bad byte, lossy conversion to U+FFFD, and finding an incomplete character at the end
// of a buffer (for streaming). Private to the tokenizer. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace strata::tokenizer_internal {

enum class Utf8Kind {
  kValid,      // a whole, well-formed character
  kInvalid,    // a maximal subpart that can never start a well-formed character
  kTruncated,  // a well-formed prefix of a character that runs to the end of the input
};

struct Utf8Step {
  Utf8Kind kind;
  size_t length;        // bytes this step covers, at least 1
  char32_t code_point;  // kValid only
};

// Decodes the character at the start of `bytes`, which must not be empty.
Utf8Step DecodeUtf8(std::string_view bytes);

// The offset of the first byte that is not part of a well-formed character, or npos.
size_t FindInvalidUtf8(std::string_view bytes);

// Appends `bytes` to `out`, each maximal invalid subpart (a truncated tail included) replaced
// by one U+FFFD.
void AppendUtf8Lossy(std::string_view bytes, std::string* out);

// The length (0 to 3) of the tail of `bytes` that is a well-formed but incomplete character.
size_t IncompleteUtf8Tail(std::string_view bytes);

// The offset where the last character of `text` (well-formed UTF-8, not empty) starts.
size_t LastCharStart(std::string_view text);

}  // namespace strata::tokenizer_internal
