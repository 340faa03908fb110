// The byte-level alphabet as compile-time tables; see byte_level.h. Thread-safety: constants.
#include "common/tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "common/tokenizer/utf8.h"

namespace strata::tokenizer_internal {
namespace {

constexpr bool IsSelfMapped(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

// bytes_to_unicode() of GPT-2: the code point each byte stands for.
constexpr std::array<char32_t, 256> MakeByteToCodePoint() {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) table[b] = IsSelfMapped(b) ? static_cast<char32_t>(b) : next++;
  return table;
}
constexpr std::array<char32_t, 256> kByteToCodePoint = MakeByteToCodePoint();
constexpr char32_t kCodePointLimit = 0x100 + 68;  // one past the largest code point used

// The inverse: byte for each code point below kCodePointLimit, -1 where none maps there.
constexpr std::array<int16_t, kCodePointLimit> MakeCodePointToByte() {
  std::array<int16_t, kCodePointLimit> table{};
  for (auto& entry : table) entry = -1;
  for (int b = 0; b < 256; ++b) table[kByteToCodePoint[b]] = static_cast<int16_t>(b);
  return table;
}
constexpr std::array<int16_t, kCodePointLimit> kCodePointToByte = MakeCodePointToByte();

// UTF-8 of each byte's code point (all below U+0800, so 1 or 2 bytes).
struct Encoded {
  char bytes[2];
  uint8_t length;
};
constexpr std::array<Encoded, 256> MakeByteToUtf8() {
  std::array<Encoded, 256> table{};
  for (int b = 0; b < 256; ++b) {
    const char32_t cp = kByteToCodePoint[b];
    if (cp < 0x80) {
      table[b] = {{static_cast<char>(cp), 0}, 1};
    } else {
      table[b] = {{static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))}, 2};
    }
  }
  return table;
}
constexpr std::array<Encoded, 256> kByteToUtf8 = MakeByteToUtf8();

}  // namespace

void AppendByteLevel(std::string_view raw, std::string* out) {
  out->reserve(out->size() + 2 * raw.size());
  for (char c : raw) {
    const Encoded& e = kByteToUtf8[static_cast<uint8_t>(c)];
    out->append(e.bytes, e.length);
  }
}

std::optional<std::string> ByteLevelToBytes(std::string_view text) {
  std::string bytes;
  bytes.reserve(text.size());
  while (!text.empty()) {
    const Utf8Step step = DecodeUtf8(text);
    if (step.kind != Utf8Kind::kValid || step.code_point >= kCodePointLimit ||
        kCodePointToByte[step.code_point] < 0) {
      return std::nullopt;
    }
    bytes.push_back(static_cast<char>(kCodePointToByte[step.code_point]));
    text.remove_prefix(step.length);
  }
  return bytes;
}

}  // namespace strata::tokenizer_internal
