// OpenAI's `logprobs` objects for generated tokens, built a batch of tokens at a time (a
// whole response, or each stream chunk's tokens):
//   /v1/completions       {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}],
//                          "text_offset"}  (byte offsets into the generated text)
//   /v1/chat/completions  {"content": [{"token", "logprob", "bytes", "top_logprobs":
//                          [{"token", "logprob", "bytes"}]}], "refusal": null}
// A token's string is its bytes as UTF-8 (an incomplete character as U+FFFD); `bytes` are
// the raw bytes. Thread-safety: one instance per response.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>

#include "common/tokenizer/tokenizer.h"
#include "coordinator/completion_request.h"
#include "coordinator/generation.h"

namespace strata::coordinator {

class LogprobsJson {
 public:
  LogprobsJson(Endpoint endpoint, const Tokenizer& tokenizer);

  // The object for the next `ids` of the output and their `logprobs` (the same length).
  nlohmann::json Next(std::span<const int32_t> ids, std::span<const SampledLogprobs> logprobs);

 private:
  const Endpoint endpoint_;
  const Tokenizer& tokenizer_;
  int64_t text_offset_ = 0;  // completions: bytes of text before the next token
};

}  // namespace strata::coordinator
