// Bytes as lowercase hexadecimal, two digits a byte (identities and ids sent as text).
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace strata {

inline std::string HexString(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes.size());
  for (const std::byte b : bytes) {
    hex.push_back(kDigits[static_cast<unsigned>(b) >> 4]);
    hex.push_back(kDigits[static_cast<unsigned>(b) & 15]);
  }
  return hex;
}

}  // namespace strata
