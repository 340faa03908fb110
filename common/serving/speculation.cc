// ParseSpeculation and SpeculationName (see speculation.h).
#include "common/serving/speculation.h"

#include <charconv>

namespace strata {

StatusOr<Speculation> ParseSpeculation(std::string_view text) {
  if (text == "off") return Speculation{};
  if (text == "auto") return Speculation{SpeculationMode::kAuto, kAutoTreeTokens};
  int32_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > kMaxTreeTokens) {
    return InvalidArgument("--speculative '" + std::string(text) +
                           "': give off, auto or a tree size in [1, " +
                           std::to_string(kMaxTreeTokens) + "] (tokens verified per pass)");
  }
  return Speculation{SpeculationMode::kFixed, n};
}

std::string SpeculationName(const Speculation& s) {
  switch (s.mode) {
    case SpeculationMode::kOff:
      return "off";
    case SpeculationMode::kAuto:
      return "auto";
    case SpeculationMode::kFixed:
      break;
  }
  return std::to_string(s.tree_tokens);
}

}  // namespace strata
