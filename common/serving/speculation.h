// The --speculative setting, shared by `strata generate`, the coordinator and the worker:
// "off", "auto" (each pass's tree size chosen from measured pass costs and acceptance, up to
// kAutoTreeTokens nodes) or a fixed node count N in [1, kMaxTreeTokens].
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace strata {

enum class SpeculationMode : uint8_t { kOff, kAuto, kFixed };

struct Speculation {
  SpeculationMode mode = SpeculationMode::kOff;
  int32_t tree_tokens = 0;  // kAuto: the most; kFixed: always; kOff: 0
};

// The most nodes "auto" lets a tree grow to: enough for a transfer-bound pass of a large
// model to be worth it, small enough for the draft to build quickly.
inline constexpr int32_t kAutoTreeTokens = 128;
// The most nodes a fixed size may name (one verify pass's tree rows).
inline constexpr int32_t kMaxTreeTokens = 511;
// Children a draft ranks below each node it expands (--draft-branch): wide enough to catch
// the target's second and third choices, narrow enough to leave the budget for depth.
inline constexpr int32_t kDefaultDraftBranch = 4;

// Parses "off", "auto" or N; the error names the flag and what is accepted.
StatusOr<Speculation> ParseSpeculation(std::string_view text);
std::string SpeculationName(const Speculation& s);  // "off", "auto", "16"

}  // namespace strata
