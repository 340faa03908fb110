// UTF-8 decoding per Unicode Table 3-7 (well-formed byte sequences); see utf8.h.
// Thread-safety: pure functions.
#include "common/tokenizer/utf8.h"

#include <cstdint>

namespace strata::tokenizer_internal {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// For a lead byte: the number of continuation bytes it needs and the allowed range of the
// first one (the later ones are always 0x80..0xBF). Returns false for bytes that cannot lead.
bool LeadByteRule(uint8_t b, int* needed, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    *needed = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    *needed = 2;
    if (b == 0xE0) *lo = 0xA0;  // no overlong forms
    if (b == 0xED) *hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    *needed = 3;
    if (b == 0xF0) *lo = 0x90;  // no overlong forms
    if (b == 0xF4) *hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return false;
  }
  return true;
}

}  // namespace

Utf8Step DecodeUtf8(std::string_view bytes) {
  const auto b0 = static_cast<uint8_t>(bytes[0]);
  if (b0 < 0x80) return {Utf8Kind::kValid, 1, b0};
  int needed = 0;
  uint8_t lo = 0;
  uint8_t hi = 0;
  if (!LeadByteRule(b0, &needed, &lo, &hi)) return {Utf8Kind::kInvalid, 1, 0};
  char32_t cp = b0 & (0x3F >> needed);
  for (int i = 1; i <= needed; ++i) {
    if (static_cast<size_t>(i) >= bytes.size()) return {Utf8Kind::kTruncated, bytes.size(), 0};
    const auto b = static_cast<uint8_t>(bytes[i]);
    if (b < lo || b > hi) return {Utf8Kind::kInvalid, static_cast<size_t>(i), 0};
    cp = (cp << 6) | (b & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  return {Utf8Kind::kValid, static_cast<size_t>(needed) + 1, cp};
}

size_t FindInvalidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<uint8_t>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step step = DecodeUtf8(bytes.substr(i));
    if (step.kind != Utf8Kind::kValid) return i;
    i += step.length;
  }
  return std::string_view::npos;
}

void AppendUtf8Lossy(std::string_view bytes, std::string* out) {
  out->reserve(out->size() + bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    size_t run = i;  // copy ASCII runs and whole characters in one append
    while (run < bytes.size()) {
      if (static_cast<uint8_t>(bytes[run]) < 0x80) {
        ++run;
        continue;
      }
      const Utf8Step step = DecodeUtf8(bytes.substr(run));
      if (step.kind != Utf8Kind::kValid) break;
      run += step.length;
    }
    out->append(bytes.substr(i, run - i));
    if (run == bytes.size()) return;
    out->append(kReplacement);
    i = run + DecodeUtf8(bytes.substr(run)).length;
  }
}

size_t IncompleteUtf8Tail(std::string_view bytes) {
  const size_t stop = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t i = bytes.size(); i > stop; --i) {
    if (IsContinuation(static_cast<uint8_t>(bytes[i - 1]))) continue;
    // Every non-continuation byte starts a decoding step, so this is where the last step begins.
    const Utf8Step step = DecodeUtf8(bytes.substr(i - 1));
    return step.kind == Utf8Kind::kTruncated ? bytes.size() - (i - 1) : 0;
  }
  return 0;
}

size_t LastCharStart(std::string_view text) {
  size_t i = text.size() - 1;
  while (i > 0 && IsContinuation(static_cast<uint8_t>(text[i]))) --i;
  return i;
}

}  // namespace strata::tokenizer_internal
