// POST /v1/completions bodies: parsing and validation of the OpenAI fields Strata serves,
// and the OpenAI-style error object. Unknown fields are ignored, as OpenAI-compatible
// servers do. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/engine/sampler.h"

namespace strata::coordinator {

// An error for the client: the HTTP status and OpenAI's {"error": {...}} fields.
struct ApiError {
  int http_status = 400;
  std::string message;  // what is wrong and what to do
  std::string type = "invalid_request_error";
  std::string param;  // the field at fault; empty: null
  std::string code;   // empty: null

  std::string ToJson() const;
};

struct CompletionRequest {
  std::string prompt;
  int32_t max_tokens = 16;
  // OpenAI's default temperature is 1.0 (sampling); 0 is greedy. top_k is vLLM's extension
  // (0 or -1: no limit). Without a seed every request draws a fresh one.
  SamplingParams sampling{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
  bool has_seed = false;
  bool return_token_ids = false;
};

// Parses a request body. `served_model` is the name `model` must match when present.
// Every error is a 400 naming the field.
std::optional<CompletionRequest> ParseCompletionRequest(std::string_view body,
                                                        const std::string& served_model,
                                                        ApiError& error);

}  // namespace strata::coordinator
