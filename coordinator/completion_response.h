// The bodies of completion responses as OpenAI sends them: a whole `text_completion` or
// `chat.completion` object, or the Server-Sent Events of a stream (`data: {json}\n\n` chunks
// of `text_completion` / `chat.completion.chunk` objects, a usage chunk, `data: [DONE]`, or
// an error event). Thread-safety: immutable after construction.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "coordinator/api_error.h"
#include "coordinator/completion_request.h"

namespace strata::coordinator {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

class CompletionResponse {
 public:
  // `id` is the response's id ("cmpl-..." or "chatcmpl-..."), `created` Unix seconds.
  CompletionResponse(Endpoint endpoint, std::string id, int64_t created, std::string model,
                     bool include_usage);

  // A whole response; `prompt_ids` / `output_ids` are added when not empty
  // (return_token_ids); `logprobs` is the choice's (LogprobsJson; null when not asked for).
  std::string Whole(std::string_view text, std::string_view finish_reason, const Usage& usage,
                    std::span<const int32_t> prompt_ids, std::span<const int32_t> output_ids,
                    nlohmann::json logprobs) const;

  // Stream events. The first chat chunk carries the assistant role; the last chunk carries
  // `finish_reason` (empty: null). `ids` are the ids behind `text` (return_token_ids),
  // `logprobs` theirs (null when not asked for).
  std::string ChunkEvent(std::string_view text, std::string_view finish_reason, bool first,
                         std::span<const int32_t> ids, nlohmann::json logprobs) const;
  std::string UsageEvent(const Usage& usage) const;  // with stream_options.include_usage
  static std::string DoneEvent();                     // data: [DONE]
  static std::string ErrorEvent(const ApiError& error);
  static std::string CommentEvent();  // ": keep-alive", keeps idle proxies from closing

  Endpoint endpoint() const { return endpoint_; }
  bool include_usage() const { return include_usage_; }

 private:
  // {"id", "object", "created", "model", "choices"}: what every body and chunk starts with.
  nlohmann::json Envelope(const char* object, nlohmann::json choices) const;

  const Endpoint endpoint_;
  const std::string id_;
  const int64_t created_;
  const std::string model_;
  const bool include_usage_;
};

}  // namespace strata::coordinator
