// GPT-2's byte-to-unicode alphabet, used by byte-level BPE vocabularies: every byte maps to
// one printable code point. Bytes that are printable Latin-1 ('!'..'~', U+00A1..U+00AC,
// U+00AE..U+00FF) map to themselves; the other 68 map, in byte order, to U+0100..U+0143
// (so ' ' is 'Ġ' and '\n' is 'Ċ'). Private to the tokenizer. Thread-safety: constant tables.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace strata::tokenizer_internal {

// Appends the byte-level form of `raw` (each byte becomes one 1- or 2-byte UTF-8 character).
void AppendByteLevel(std::string_view raw, std::string* out);

// The bytes a byte-level string stands for; nullopt when one of its characters is outside the
// alphabet (or it is not well-formed UTF-8).
std::optional<std::string> ByteLevelToBytes(std::string_view text);

}  // namespace strata::tokenizer_internal
