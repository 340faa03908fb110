// CompletionResponse (see completion_response.h).
#include "coordinator/completion_response.h"

#include <nlohmann/json.hpp>

namespace strata::coordinator {

using Json = nlohmann::json;

namespace {

Json UsageJson(const Usage& u) {
  return Json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

Json Reason(std::string_view finish_reason) {
  return finish_reason.empty() ? Json(nullptr) : Json(finish_reason);
}

std::string Event(const Json& data) { return "data: " + data.dump() + "\n\n"; }

}  // namespace

CompletionResponse::CompletionResponse(Endpoint endpoint, std::string id, int64_t created,
                                       std::string model, bool include_usage)
    : endpoint_(endpoint),
      id_(std::move(id)),
      created_(created),
      model_(std::move(model)),
      include_usage_(include_usage) {}

std::string CompletionResponse::Whole(std::string_view text, std::string_view finish_reason,
                                      const Usage& usage, std::span<const int32_t> prompt_ids,
                                      std::span<const int32_t> output_ids, Json logprobs) const {
  const bool chat = endpoint_ == Endpoint::kChatCompletions;
  Json choice = {{"index", 0},
                 {"finish_reason", Reason(finish_reason)},
                 {"logprobs", std::move(logprobs)}};
  if (chat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  if (!output_ids.empty()) choice["token_ids"] = output_ids;
  Json body = Envelope(chat ? "chat.completion" : "text_completion",
                       Json::array({std::move(choice)}));
  body["usage"] = UsageJson(usage);
  if (!prompt_ids.empty()) body["prompt_token_ids"] = prompt_ids;
  return body.dump();
}

std::string CompletionResponse::ChunkEvent(std::string_view text, std::string_view finish_reason,
                                           bool first, std::span<const int32_t> ids,
                                           Json logprobs) const {
  const bool chat = endpoint_ == Endpoint::kChatCompletions;
  Json choice = {{"index", 0},
                 {"finish_reason", Reason(finish_reason)},
                 {"logprobs", std::move(logprobs)}};
  if (chat) {
    Json delta = Json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || first) delta["content"] = text;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text;
  }
  if (!ids.empty()) choice["token_ids"] = ids;
  Json chunk = Envelope(chat ? "chat.completion.chunk" : "text_completion",
                        Json::array({std::move(choice)}));
  if (include_usage_) chunk["usage"] = nullptr;
  return Event(chunk);
}

std::string CompletionResponse::UsageEvent(const Usage& usage) const {
  const bool chat = endpoint_ == Endpoint::kChatCompletions;
  Json chunk = Envelope(chat ? "chat.completion.chunk" : "text_completion", Json::array());
  chunk["usage"] = UsageJson(usage);
  return Event(chunk);
}

Json CompletionResponse::Envelope(const char* object, Json choices) const {
  return Json{{"id", id_},
              {"object", object},
              {"created", created_},
              {"model", model_},
              {"choices", std::move(choices)}};
}

std::string CompletionResponse::DoneEvent() { return "data: [DONE]\n\n"; }

std::string CompletionResponse::ErrorEvent(const ApiError& error) {
  return "data: " + error.ToJson() + "\n\n";
}

std::string CompletionResponse::CommentEvent() { return ": keep-alive\n\n"; }

}  // namespace strata::coordinator
