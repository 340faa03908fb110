// ParseCompletionRequest (see completion_request.h).
#include "coordinator/completion_request.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/cluster/protocol.h"

namespace strata::coordinator {

using Json = nlohmann::json;

namespace {

// A JSON type in words, for messages.
std::string TypeName(const Json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  return std::string("a ") + v.type_name();
}

bool IsInt32Range(const Json& v, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) return false;
  if (v.is_number_unsigned()) {
    const auto x = v.get<uint64_t>();
    return x <= static_cast<uint64_t>(hi) && (lo <= 0 || x >= static_cast<uint64_t>(lo));
  }
  const auto x = v.get<int64_t>();
  return x >= lo && x <= hi;
}

class Parser {
 public:
  Parser(Endpoint endpoint, std::span<const std::string> model_names, int32_t vocab_size)
      : model_names_(model_names), vocab_size_(vocab_size) {
    r_.endpoint = endpoint;
  }

  std::optional<CompletionRequest> Parse(std::string_view body, ApiError& error);

 private:
  enum class Field { kRead, kUnknown, kBad };
  bool chat() const { return r_.endpoint == Endpoint::kChatCompletions; }

  Field Read(const std::string& key, const Json& v);
  bool Bad(const std::string& param, const std::string& message) {
    error_ = InvalidRequest(param, message);
    return false;
  }
  // A field Strata accepts only at its neutral value (what OpenAI does without it).
  bool OnlyNeutral(const std::string& key, const Json& v, bool neutral, const std::string& what) {
    return neutral || Bad(key, key + " is not supported" + (what.empty() ? "" : ": " + what) +
                                   "; got " + v.dump());
  }
  bool ReadPrompt(const Json& v);
  bool ReadTokenIds(const Json& v);
  bool ReadMessages(const Json& v);
  bool ReadStop(const Json& v);
  bool ReadMaxTokens(const std::string& key, const Json& v);

  std::span<const std::string> model_names_;
  int32_t vocab_size_;
  CompletionRequest r_;
  ApiError error_;
  bool saw_prompt_ = false;
  bool saw_stream_options_ = false;
  bool saw_top_logprobs_ = false;
  std::string max_tokens_field_;
};

std::optional<CompletionRequest> Parser::Parse(std::string_view body, ApiError& error) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = InvalidRequest("", std::string("the request body is not valid JSON; send a JSON "
                                           "object such as ") +
                                   (chat() ? R"({"messages": [{"role": "user", "content": "Hi"}]})"
                                           : R"({"prompt": "Hello", "max_tokens": 16})"));
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = InvalidRequest("", "the request body must be a JSON object, got " + TypeName(j));
    return std::nullopt;
  }
  for (const auto& [key, value] : j.items()) {
    if (value.is_null()) continue;
    const Field f = Read(key, value);
    if (f == Field::kBad) {
      error = error_;
      return std::nullopt;
    }
    if (f == Field::kUnknown) {
      error = InvalidRequest(
          key, "unknown field '" + key + "' for " +
                   (chat() ? "/v1/chat/completions" : "/v1/completions") +
                   "; remove it (docs/operations.md lists the fields this server accepts)");
      return std::nullopt;
    }
  }
  const bool ok = [&] {
    if (chat() && r_.messages.empty()) {
      return Bad("messages", "messages is required: a list of {\"role\", \"content\"} objects");
    }
    if (!chat() && !saw_prompt_) {
      return Bad("prompt", "prompt is required: the text to complete (or a list of token ids)");
    }
    if (saw_top_logprobs_ && !r_.logprobs) {
      return Bad("top_logprobs", "top_logprobs needs logprobs: true");
    }
    if (saw_stream_options_ && !r_.stream) {
      return Bad("stream_options", "stream_options is only allowed with stream: true");
    }
    const Status sampling = ValidateSamplingParams(r_.sampling);
    if (!sampling.ok()) return Bad("", sampling.message());
    return true;
  }();
  if (!ok) {
    error = error_;
    return std::nullopt;
  }
  return std::move(r_);
}

Parser::Field Parser::Read(const std::string& key, const Json& v) {
  const auto result = [](bool ok) { return ok ? Field::kRead : Field::kBad; };
  if (std::find(std::begin(kIgnoredFields), std::end(kIgnoredFields), key) !=
      std::end(kIgnoredFields)) {
    return Field::kRead;
  }
  if (key == "model") {
    const bool known = v.is_string() && std::find(model_names_.begin(), model_names_.end(),
                                                  v.get<std::string>()) != model_names_.end();
    if (!known) {
      Bad("model", "this server serves model '" + model_names_.front() +
                       "'; set model to it or leave it out (GET /v1/models lists it)");
      error_.code = "model_not_found";
      return Field::kBad;
    }
    return Field::kRead;
  }
  if (key == "prompt" && !chat()) return result(ReadPrompt(v));
  if (key == "messages" && chat()) return result(ReadMessages(v));
  if (key == "max_tokens" || (key == "max_completion_tokens" && chat())) {
    return result(ReadMaxTokens(key, v));
  }
  if (key == "temperature") {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 ||
        v.get<double>() > 2) {
      return result(Bad(key, "temperature must be a number from 0 (greedy) to 2, got " + v.dump()));
    }
    r_.sampling.temperature = v.get<float>();
    return Field::kRead;
  }
  if (key == "top_p") {
    if (!v.is_number() || !(v.get<double>() > 0) || v.get<double>() > 1) {
      return result(Bad(key, "top_p must be a number in (0, 1], got " + v.dump()));
    }
    r_.sampling.top_p = v.get<float>();
    return Field::kRead;
  }
  if (key == "top_k") {
    if (!IsInt32Range(v, -1, std::numeric_limits<int32_t>::max())) {
      return result(Bad(key, "top_k must be an integer, -1 or 0 for no limit, got " + v.dump()));
    }
    r_.sampling.top_k = std::max<int32_t>(0, static_cast<int32_t>(v.get<int64_t>()));
    return Field::kRead;
  }
  if (key == "seed") {
    if (!v.is_number_integer()) return result(Bad(key, "seed must be an integer, got " + v.dump()));
    r_.sampling.seed =
        v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
    r_.has_seed = true;
    return Field::kRead;
  }
  if (key == "stop") return result(ReadStop(v));
  if (key == "stream") {
    if (!v.is_boolean()) return result(Bad(key, "stream must be true or false"));
    r_.stream = v.get<bool>();
    return Field::kRead;
  }
  if (key == "stream_options") {
    saw_stream_options_ = true;
    if (!v.is_object()) return result(Bad(key, "stream_options must be an object"));
    for (const auto& [option, value] : v.items()) {
      if (option != "include_usage") {
        return result(Bad(key, "unknown stream option '" + option + "'; only include_usage "
                                                                    "is supported"));
      }
      if (!value.is_boolean()) {
        return result(Bad(key, "stream_options.include_usage must be true or false"));
      }
      r_.include_usage = value.get<bool>();
    }
    return Field::kRead;
  }
  if (key == "return_token_ids") {
    if (!v.is_boolean()) return result(Bad(key, "return_token_ids must be true or false"));
    r_.return_token_ids = v.get<bool>();
    return Field::kRead;
  }
  if (key == "n") {
    return result(v.is_number_integer() && v.get<int64_t>() == 1
                      ? true
                      : Bad(key, "only n = 1 is supported; send one request per completion"));
  }
  const auto zero = [](const Json& x) { return x.is_number() && x.get<double>() == 0; };
  if (key == "frequency_penalty" || key == "presence_penalty") {
    return result(OnlyNeutral(key, v, zero(v), "only 0 (no penalty)"));
  }
  if (key == "logit_bias") {
    return result(OnlyNeutral(key, v, v.is_object() && v.empty(), "only an empty object"));
  }
  if (key == "logprobs" && chat()) {
    if (!v.is_boolean()) return result(Bad(key, "logprobs must be true or false"));
    r_.logprobs = v.get<bool>();
    return Field::kRead;
  }
  if ((key == "logprobs" && !chat()) || (key == "top_logprobs" && chat())) {
    // Completions: `logprobs: N` asks for N alternatives; chat: `top_logprobs: N`.
    if (!IsInt32Range(v, 0, cluster::kMaxTopLogprobs)) {
      return result(Bad(key, key + " must be an integer from 0 to " +
                                 std::to_string(cluster::kMaxTopLogprobs) + ", got " + v.dump()));
    }
    if (!chat()) r_.logprobs = true;
    r_.top_logprobs = v.get<int32_t>();
    if (chat() && r_.top_logprobs > 0) saw_top_logprobs_ = true;
    return Field::kRead;
  }
  if (!chat()) {
    if (key == "echo") return result(OnlyNeutral(key, v, v == false, "only false"));
    if (key == "best_of") return result(OnlyNeutral(key, v, v == 1, "only 1"));
    if (key == "suffix") return result(OnlyNeutral(key, v, v == "", "only an empty string"));
    return Field::kUnknown;
  }
  if (key == "response_format") {
    return result(OnlyNeutral(key, v, v == Json{{"type", "text"}}, "only {\"type\": \"text\"}"));
  }
  if (key == "tools" || key == "functions") {
    return result(OnlyNeutral(key, v, v.is_array() && v.empty(), "tool calls are not served"));
  }
  if (key == "tool_choice" || key == "function_call") {
    return result(OnlyNeutral(key, v, v == "none", "tool calls are not served"));
  }
  if (key == "modalities") {
    return result(OnlyNeutral(key, v, v == Json::array({"text"}), "only [\"text\"]"));
  }
  return Field::kUnknown;
}

bool Parser::ReadPrompt(const Json& v) {
  saw_prompt_ = true;
  if (v.is_string()) {
    r_.prompt = v.get<std::string>();
    if (r_.prompt.empty()) return Bad("prompt", "prompt is empty; give at least one character");
    return true;
  }
  if (!v.is_array()) {
    return Bad("prompt", "prompt must be a string or a list of token ids, got " + TypeName(v));
  }
  if (v.empty()) return Bad("prompt", "prompt is an empty list; give text or token ids");
  if (v.front().is_string() || v.front().is_array()) {
    // A batch: OpenAI's list of prompts. One is served; more are refused, never dropped.
    if (v.size() > 1) {
      return Bad("prompt", "a list of " + std::to_string(v.size()) +
                               " prompts was given; this server completes one prompt per "
                               "request: send them as separate (concurrent) requests");
    }
    return ReadPrompt(v.front());
  }
  return ReadTokenIds(v);
}

bool Parser::ReadTokenIds(const Json& v) {
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!IsInt32Range(v[i], 0, vocab_size_ - 1)) {
      return Bad("prompt", "prompt[" + std::to_string(i) + "] is " + v[i].dump() +
                               ": a token id must be an integer from 0 to " +
                               std::to_string(vocab_size_ - 1));
    }
    ids.push_back(v[i].get<int32_t>());
  }
  r_.prompt_ids = std::move(ids);
  return true;
}

bool Parser::ReadMessages(const Json& v) {
  if (!v.is_array() || v.empty()) {
    return Bad("messages", "messages must be a non-empty list of {\"role\", \"content\"} objects");
  }
  static constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant",
                                                "tool", "ipython"};
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const Json& m = v[i];
    if (!m.is_object()) return Bad("messages", at + " must be an object, got " + TypeName(m));
    ChatMessage message;
    for (const auto& [key, value] : m.items()) {
      if (key == "role") {
        if (!value.is_string() ||
            std::find(std::begin(kRoles), std::end(kRoles), value.get<std::string>()) ==
                std::end(kRoles)) {
          return Bad("messages", at + ".role must be one of system, developer, user, "
                                      "assistant, tool, ipython; got " + value.dump());
        }
        message.role = value.get<std::string>();
        // OpenAI's "developer" is the system prompt of newer clients; Llama knows "system".
        if (message.role == "developer") message.role = "system";
      } else if (key == "content") {
        if (value.is_string()) {
          message.content = value.get<std::string>();
          continue;
        }
        if (!value.is_array()) {
          return Bad("messages", at + ".content must be a string or a list of text parts, got " +
                                     TypeName(value));
        }
        for (size_t p = 0; p < value.size(); ++p) {
          const Json& part = value[p];
          if (!part.is_object() || part.value("type", "") != "text" ||
              !part.contains("text") || !part["text"].is_string()) {
            return Bad("messages", at + ".content[" + std::to_string(p) +
                                       "] must be {\"type\": \"text\", \"text\": ...}: this "
                                       "model takes text only");
          }
          if (p > 0) message.content += "\n";
          message.content += part["text"].get<std::string>();
        }
      } else if (key != "name") {  // `name` is accepted and ignored (Llama templates drop it)
        return Bad("messages", at + " has field '" + key + "' this server does not serve; "
                                    "a message has role, content (and name, ignored)");
      }
    }
    if (message.role.empty()) return Bad("messages", at + ".role is required");
    if (!m.contains("content") || m["content"].is_null()) {
      return Bad("messages", at + ".content is required");
    }
    r_.messages.push_back(std::move(message));
  }
  return true;
}

bool Parser::ReadStop(const Json& v) {
  const Json list = v.is_string() ? Json::array({v}) : v;
  if (!list.is_array() || list.size() > static_cast<size_t>(kMaxStopStrings)) {
    return Bad("stop", "stop must be a string or a list of at most " +
                           std::to_string(kMaxStopStrings) + " strings, got " + v.dump());
  }
  for (const Json& s : list) {
    if (!s.is_string() || s.get<std::string>().empty() ||
        s.get<std::string>().size() > kMaxStopBytes) {
      return Bad("stop", "each stop string must be a non-empty string of at most " +
                             std::to_string(kMaxStopBytes) + " bytes, got " + s.dump());
    }
    r_.stop.push_back(s.get<std::string>());
  }
  return true;
}

bool Parser::ReadMaxTokens(const std::string& key, const Json& v) {
  if (!IsInt32Range(v, 1, std::numeric_limits<int32_t>::max())) {
    return Bad(key, key + " must be a positive integer, got " + v.dump());
  }
  const auto value = v.get<int32_t>();
  if (r_.max_tokens && *r_.max_tokens != value) {
    return Bad(key, "max_tokens and max_completion_tokens differ (" + max_tokens_field_ + " is " +
                        std::to_string(*r_.max_tokens) + "); give one of them");
  }
  r_.max_tokens = value;
  max_tokens_field_ = key;
  return true;
}

}  // namespace

std::optional<CompletionRequest> ParseCompletionRequest(std::string_view body, Endpoint endpoint,
                                                        std::span<const std::string> model_names,
                                                        int32_t vocab_size, ApiError& error) {
  return Parser(endpoint, model_names, vocab_size).Parse(body, error);
}

}  // namespace strata::coordinator
