// ParseCompletionRequest and ApiError (see completion_request.h).
#include "coordinator/completion_request.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace strata::coordinator {

using Json = nlohmann::json;

std::string ApiError::ToJson() const {
  Json e = {{"message", message},
            {"type", type},
            {"param", param.empty() ? Json(nullptr) : Json(param)},
            {"code", code.empty() ? Json(nullptr) : Json(code)}};
  return Json{{"error", e}}.dump();
}

namespace {

ApiError Invalid(const std::string& param, const std::string& message) {
  return ApiError{400, message, "invalid_request_error", param, ""};
}

// A JSON type in words, for messages.
std::string TypeName(const Json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  return std::string("a ") + v.type_name();
}

}  // namespace

std::optional<CompletionRequest> ParseCompletionRequest(std::string_view body,
                                                        const std::string& served_model,
                                                        ApiError& error) {
  const Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = Invalid("", "the request body is not valid JSON; send a JSON object such as "
                        "{\"prompt\": \"Hello\", \"max_tokens\": 16}");
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = Invalid("", "the request body must be a JSON object, got " + TypeName(j));
    return std::nullopt;
  }
  // A present, non-null field.
  const auto field = [&](const char* name) -> const Json* {
    const auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  CompletionRequest r;

  const Json* model = field("model");
  if (model != nullptr && (!model->is_string() || model->get<std::string>() != served_model)) {
    error = Invalid("model", "this server serves model '" + served_model + "'; set model to it "
                             "or leave it out (GET /v1/models lists it)");
    error.code = "model_not_found";
    return std::nullopt;
  }
  const Json* prompt = field("prompt");
  if (prompt == nullptr) {
    error = Invalid("prompt", "prompt is required: give the text to complete as a string");
    return std::nullopt;
  }
  if (!prompt->is_string()) {
    error = Invalid("prompt", "prompt must be a string, got " + TypeName(*prompt) +
                              "; arrays of prompts or of token ids are not supported");
    return std::nullopt;
  }
  r.prompt = prompt->get<std::string>();
  if (r.prompt.empty()) {
    error = Invalid("prompt", "prompt is empty; give at least one character of text");
    return std::nullopt;
  }
  if (const Json* v = field("max_tokens")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 1 ||
        v->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      error = Invalid("max_tokens", "max_tokens must be a positive integer, got " + v->dump());
      return std::nullopt;
    }
    r.max_tokens = static_cast<int32_t>(v->get<int64_t>());
  }
  if (const Json* v = field("temperature")) {
    if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < 0 ||
        v->get<double>() > 2) {
      error = Invalid("temperature", "temperature must be a number from 0 (greedy) to 2, got " +
                                         v->dump());
      return std::nullopt;
    }
    r.sampling.temperature = v->get<float>();
  }
  if (const Json* v = field("top_p")) {
    if (!v->is_number() || !(v->get<double>() > 0) || v->get<double>() > 1) {
      error = Invalid("top_p", "top_p must be a number in (0, 1], got " + v->dump());
      return std::nullopt;
    }
    r.sampling.top_p = v->get<float>();
  }
  if (const Json* v = field("top_k")) {
    if (!v->is_number_integer() || v->get<int64_t>() < -1 ||
        v->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      error = Invalid("top_k", "top_k must be an integer, -1 or 0 for no limit, got " + v->dump());
      return std::nullopt;
    }
    r.sampling.top_k = std::max<int32_t>(0, static_cast<int32_t>(v->get<int64_t>()));
  }
  if (const Json* v = field("seed")) {
    if (!v->is_number_integer()) {
      error = Invalid("seed", "seed must be an integer, got " + v->dump());
      return std::nullopt;
    }
    r.sampling.seed = v->is_number_unsigned() ? v->get<uint64_t>()
                                              : static_cast<uint64_t>(v->get<int64_t>());
    r.has_seed = true;
  }
  if (const Json* v = field("return_token_ids")) {
    if (!v->is_boolean()) {
      error = Invalid("return_token_ids", "return_token_ids must be true or false");
      return std::nullopt;
    }
    r.return_token_ids = v->get<bool>();
  }
  if (const Json* v = field("stream")) {
    if (!v->is_boolean() || v->get<bool>()) {
      error = Invalid("stream", "streaming is not supported yet; leave stream out or set it to "
                                "false");
      return std::nullopt;
    }
  }
  if (const Json* v = field("n")) {
    if (!v->is_number_integer() || v->get<int64_t>() != 1) {
      error = Invalid("n", "only n = 1 is supported; send one request per completion");
      return std::nullopt;
    }
  }
  const Status sampling = ValidateSamplingParams(r.sampling);
  if (!sampling.ok()) {
    error = Invalid("", sampling.message());
    return std::nullopt;
  }
  return r;
}

}  // namespace strata::coordinator
