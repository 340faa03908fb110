// SecretsEqual and RandomSecret (see secret.h).
#include "common/util/secret.h"

#include <cstddef>
#include <random>

namespace strata {

bool SecretsEqual(std::string_view presented, std::string_view expected) {
  // Every presented byte is compared with a byte of `expected` (wrapping around it), and the
  // lengths' difference folds into the same accumulator: no branch depends on the secret.
  unsigned diff = presented.size() == expected.size() ? 0u : 1u;
  if (expected.empty()) return presented.empty();
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i]) ^
            static_cast<unsigned char>(expected[i % expected.size()]);
  }
  return diff == 0;
}

std::string RandomSecret() {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device entropy;
  std::string hex;
  for (int i = 0; i < 32; ++i) {
    const unsigned byte = entropy() & 0xff;
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 15]);
  }
  return hex;
}

}  // namespace strata
