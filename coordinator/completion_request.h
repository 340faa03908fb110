// Bodies of POST /v1/completions and POST /v1/chat/completions: parsing and validation of
// the OpenAI fields Strata serves. Every field is known: one Strata does not serve is a 400
// naming it, except the OpenAI fields accepted and ignored (kIgnoredFields) and those
// accepted only at their neutral value (a penalty of 0, n = 1, ...). Null counts as absent.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/serving/sampling_params.h"
#include "common/tokenizer/chat_template.h"
#include "coordinator/api_error.h"

namespace strata::coordinator {

enum class Endpoint { kCompletions, kChatCompletions };

// OpenAI fields accepted and ignored, by either endpoint (documented in docs/operations.md).
inline constexpr std::string_view kIgnoredFields[] = {"user", "store", "metadata",
                                                      "service_tier", "parallel_tool_calls"};
inline constexpr int kMaxStopStrings = 4;
inline constexpr int32_t kDefaultMaxTokens = 16;  // /v1/completions without max_tokens (OpenAI's)
inline constexpr size_t kMaxStopBytes = 1024;  // per stop string

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  // /v1/completions: the prompt as text (tokenized with BOS), or as token ids (used as given).
  std::string prompt;
  std::optional<std::vector<int32_t>> prompt_ids;
  // /v1/chat/completions: the conversation, rendered with the model's chat template.
  std::vector<ChatMessage> messages;
  // max_tokens (or max_completion_tokens); absent: 16 for completions (OpenAI's default),
  // for chat whatever --max-seq-len leaves after the prompt.
  std::optional<int32_t> max_tokens;
  // OpenAI's default temperature is 1.0 (sampling); 0 is greedy. top_k is vLLM's extension
  // (0 or -1: no limit). Without a seed every request draws a fresh one.
  SamplingParams sampling{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
  bool has_seed = false;
  std::vector<std::string> stop;  // the text ends before the first of these
  bool stream = false;            // Server-Sent Events
  bool include_usage = false;     // stream_options.include_usage: a last chunk with usage
  bool return_token_ids = false;  // Strata's (and vLLM's) extension: ids in the response
  // Log-probabilities of the generated tokens (completions: `logprobs: N`; chat: `logprobs:
  // true` with `top_logprobs: N`), with the N most likely alternatives of each.
  bool logprobs = false;
  int32_t top_logprobs = 0;
};

// Parses a request body for `endpoint`. `model` must be one of `model_names` when present
// (the served name and its aliases); prompt token ids must be below `vocab_size`. Every
// error is a 400 naming the field.
std::optional<CompletionRequest> ParseCompletionRequest(std::string_view body, Endpoint endpoint,
                                                        std::span<const std::string> model_names,
                                                        int32_t vocab_size, ApiError& error);

}  // namespace strata::coordinator
