// When a generation ends, in one place for the engine's Generate and the coordinator's
// scheduler: after each sampled token, a token among the stop ids ends it ("stop"); else
// reaching max_tokens ends it ("length"); else it goes on. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace strata {

enum class FinishReason { kStop, kLength };

// "stop" | "length", as the OpenAI API and `strata generate --json` spell them.
std::string_view FinishReasonName(FinishReason reason);

// Whether the generation ends after `token`, its `generated`-th token (counting it).
std::optional<FinishReason> FinishAfter(int32_t token, int32_t generated, int32_t max_tokens,
                                        std::span<const int32_t> stop_ids);

}  // namespace strata
