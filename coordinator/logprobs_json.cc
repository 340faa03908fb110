// LogprobsJson (see logprobs_json.h).
#include "coordinator/logprobs_json.h"

#include "common/tokenizer/utf8.h"

namespace strata::coordinator {

using Json = nlohmann::json;

namespace {

struct TokenText {
  std::string bytes;  // raw
  std::string text;   // as UTF-8
};

TokenText TextOf(const Tokenizer& tokenizer, int32_t id) {
  TokenText t;
  t.bytes = tokenizer.TokenBytes(id).value_or("");
  tokenizer_internal::AppendUtf8Lossy(t.bytes, &t.text);
  return t;
}

Json Bytes(const std::string& bytes) {
  Json list = Json::array();
  for (char c : bytes) list.push_back(static_cast<unsigned char>(c));
  return list;
}

}  // namespace

LogprobsJson::LogprobsJson(Endpoint endpoint, const Tokenizer& tokenizer)
    : endpoint_(endpoint), tokenizer_(tokenizer) {}

Json LogprobsJson::Next(std::span<const int32_t> ids, std::span<const SampledLogprobs> logprobs) {
  if (endpoint_ == Endpoint::kChatCompletions) {
    Json content = Json::array();
    for (size_t i = 0; i < ids.size() && i < logprobs.size(); ++i) {
      const TokenText t = TextOf(tokenizer_, ids[i]);
      Json top = Json::array();
      for (const auto& [id, logprob] : logprobs[i].top) {
        const TokenText alt = TextOf(tokenizer_, id);
        top.push_back({{"token", alt.text}, {"logprob", logprob}, {"bytes", Bytes(alt.bytes)}});
      }
      content.push_back({{"token", t.text},
                         {"logprob", logprobs[i].logprob},
                         {"bytes", Bytes(t.bytes)},
                         {"top_logprobs", std::move(top)}});
    }
    return Json{{"content", std::move(content)}, {"refusal", nullptr}};
  }
  Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(),
       text_offset = Json::array();
  for (size_t i = 0; i < ids.size() && i < logprobs.size(); ++i) {
    const TokenText t = TextOf(tokenizer_, ids[i]);
    tokens.push_back(t.text);
    token_logprobs.push_back(logprobs[i].logprob);
    Json top = Json::object();
    for (const auto& [id, logprob] : logprobs[i].top) top[TextOf(tokenizer_, id).text] = logprob;
    top_logprobs.push_back(std::move(top));
    text_offset.push_back(text_offset_);
    // Special tokens are not in the text.
    if (!tokenizer_.IsSpecial(ids[i])) text_offset_ += static_cast<int64_t>(t.bytes.size());
  }
  return Json{{"tokens", std::move(tokens)},
              {"token_logprobs", std::move(token_logprobs)},
              {"top_logprobs", std::move(top_logprobs)},
              {"text_offset", std::move(text_offset)}};
}

}  // namespace strata::coordinator
