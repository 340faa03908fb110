// Bodies of POST /v1/completions and /v1/chat/completions: defaults, every field read, the
// prompt's three forms, chat messages, stop strings, unknown fields refused, neutral-only
// fields, and a 400 naming the field for each kind of bad input, with OpenAI's error shape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "coordinator/completion_request.h"

namespace strata::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kNames = {"m", "m-alias"};
constexpr int32_t kVocab = 1000;

std::optional<CompletionRequest> Parse(const char* body, ApiError& error,
                                       Endpoint endpoint = Endpoint::kCompletions) {
  return ParseCompletionRequest(body, endpoint, kNames, kVocab, error);
}

TEST(CompletionRequestTest, DefaultsFollowOpenAI) {
  ApiError error;
  const auto r = Parse(R"({"prompt": "Hi"})", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_EQ(r->prompt, "Hi");
  EXPECT_FALSE(r->prompt_ids.has_value());
  EXPECT_FALSE(r->max_tokens.has_value());
  EXPECT_FLOAT_EQ(r->sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 1.0f);
  EXPECT_FALSE(r->has_seed);
  EXPECT_FALSE(r->return_token_ids);
  EXPECT_FALSE(r->stream);
  EXPECT_TRUE(r->stop.empty());
}

TEST(CompletionRequestTest, ReadsEveryField) {
  ApiError error;
  const auto r = Parse(
      R"({"model": "m-alias", "prompt": "x", "max_tokens": 3, "temperature": 0, "top_p": 0.5,
          "top_k": -1, "seed": 42, "return_token_ids": true, "stream": true, "n": 1,
          "stream_options": {"include_usage": true}, "stop": ["a", "bc"], "user": "u1",
          "frequency_penalty": 0, "presence_penalty": 0.0, "logit_bias": {}, "echo": false,
          "best_of": 1, "logprobs": null, "suffix": null})",
      error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_EQ(r->max_tokens, 3);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 0);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_TRUE(r->has_seed);
  EXPECT_TRUE(r->return_token_ids);
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_THAT(r->stop, ElementsAre("a", "bc"));
}

TEST(CompletionRequestTest, APromptIsTextTokenIdsOrAListOfOne) {
  ApiError error;
  auto r = Parse(R"({"prompt": [1, 2, 999]})", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_THAT(*r->prompt_ids, ElementsAre(1, 2, 999));
  r = Parse(R"({"prompt": [[5, 6]]})", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_THAT(*r->prompt_ids, ElementsAre(5, 6));
  r = Parse(R"({"prompt": ["only one"], "stop": "x"})", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_EQ(r->prompt, "only one");
  EXPECT_THAT(r->stop, ElementsAre("x"));
}

TEST(CompletionRequestTest, LogprobsAreAskedForAsEachEndpointDoes) {
  ApiError error;
  auto r = Parse(R"({"prompt": "x", "logprobs": 3})", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 3);
  r = Parse(R"({"prompt": "x", "logprobs": 0})", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 0);
  r = Parse(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true,
                "top_logprobs": 20})",
            error, Endpoint::kChatCompletions);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_TRUE(r->logprobs);
  EXPECT_EQ(r->top_logprobs, 20);
  r = Parse(R"({"messages": [{"role": "user", "content": "x"}], "logprobs": false})", error,
            Endpoint::kChatCompletions);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_FALSE(r->logprobs);
}

TEST(CompletionRequestTest, ChatReadsMessagesAndItsOwnFields) {
  ApiError error;
  const auto r = Parse(
      R"({"messages": [{"role": "developer", "content": "Be terse."},
                       {"role": "user", "name": "ann",
                        "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
                       {"role": "assistant", "content": "Hello"}],
          "max_completion_tokens": 7, "max_tokens": 7, "response_format": {"type": "text"},
          "tools": [], "tool_choice": "none", "logprobs": false, "top_logprobs": 0,
          "store": false, "metadata": {"k": "v"}, "parallel_tool_calls": true})",
      error, Endpoint::kChatCompletions);
  ASSERT_TRUE(r.has_value()) << error.message;
  ASSERT_EQ(r->messages.size(), 3u);
  EXPECT_EQ(r->messages[0].role, "system");
  EXPECT_EQ(r->messages[1].content, "Hi\nthere");
  EXPECT_EQ(r->messages[2].role, "assistant");
  EXPECT_EQ(r->max_tokens, 7);
}

struct BadCase {
  const char* body;
  const char* param;  // "" for null
  const char* says;
  Endpoint endpoint = Endpoint::kCompletions;
};

TEST(CompletionRequestTest, BadInputIsA400NamingTheField) {
  constexpr Endpoint kChat = Endpoint::kChatCompletions;
  const BadCase cases[] = {
      {"{not json", "", "not valid JSON"},
      {"[1, 2]", "", "must be a JSON object"},
      {"{}", "prompt", "prompt is required"},
      {R"({"prompt": ""})", "prompt", "prompt is empty"},
      {R"({"prompt": []})", "prompt", "empty list"},
      {R"({"prompt": ["a", "b"]})", "prompt", "one prompt per request"},
      {R"({"prompt": [1, 1000]})", "prompt", "prompt[1] is 1000"},
      {R"({"prompt": [1, -1]})", "prompt", "from 0 to 999"},
      {R"({"prompt": [1, "x"]})", "prompt", "token id"},
      {R"({"prompt": {"a": 1}})", "prompt", "must be a string or a list"},
      {R"({"prompt": "x", "max_tokens": 0})", "max_tokens", "positive integer"},
      {R"({"prompt": "x", "max_tokens": "5"})", "max_tokens", "positive integer"},
      {R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens", "positive integer"},
      {R"({"prompt": "x", "temperature": -0.1})", "temperature", "from 0"},
      {R"({"prompt": "x", "temperature": 3})", "temperature", "to 2"},
      {R"({"prompt": "x", "top_p": 0})", "top_p", "(0, 1]"},
      {R"({"prompt": "x", "top_p": 1.5})", "top_p", "(0, 1]"},
      {R"({"prompt": "x", "top_k": -2})", "top_k", "top_k"},
      {R"({"prompt": "x", "seed": "abc"})", "seed", "integer"},
      {R"({"prompt": "x", "model": "other"})", "model", "serves model 'm'"},
      {R"({"prompt": "x", "stream": "yes"})", "stream", "true or false"},
      {R"({"prompt": "x", "stream_options": {"include_usage": true}})", "stream_options",
       "only allowed with stream: true"},
      {R"({"prompt": "x", "stream": true, "stream_options": {"x": 1}})", "stream_options",
       "unknown stream option"},
      {R"({"prompt": "x", "n": 2})", "n", "n = 1"},
      {R"({"prompt": "x", "return_token_ids": 1})", "return_token_ids", "true or false"},
      {R"({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]})", "stop", "at most 4"},
      {R"({"prompt": "x", "stop": [""]})", "stop", "non-empty"},
      {R"({"prompt": "x", "stop": 5})", "stop", "a string or a list"},
      {R"({"prompt": "x", "unknown_field": [1]})", "unknown_field", "unknown field 'unknown_field'"},
      {R"({"prompt": "x", "frequency_penalty": 0.5})", "frequency_penalty", "not supported"},
      {R"({"prompt": "x", "logprobs": 21})", "logprobs", "from 0 to 20"},
      {R"({"prompt": "x", "logprobs": true})", "logprobs", "from 0 to 20"},
      {R"({"prompt": "x", "top_logprobs": 2})", "top_logprobs", "unknown field"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", "logprobs",
       "true or false", kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs",
       "needs logprobs: true", kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 30})",
       "top_logprobs", "from 0 to 20", kChat},
      {R"({"prompt": "x", "echo": true})", "echo", "not supported"},
      {R"({"prompt": "x", "messages": []})", "messages", "unknown field"},
      {R"({"prompt": "x", "max_completion_tokens": 3})", "max_completion_tokens", "unknown field"},
      {"{}", "messages", "messages is required", kChat},
      {R"({"messages": []})", "messages", "non-empty list", kChat},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages", "messages[0].role",
       kChat},
      {R"({"messages": [{"content": "x"}]})", "messages", "messages[0].role is required", kChat},
      {R"({"messages": [{"role": "user"}]})", "messages", "messages[0].content is required",
       kChat},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages",
       "text only", kChat},
      {R"({"messages": [{"role": "user", "content": "x", "tool_calls": []}]})", "messages",
       "'tool_calls'", kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "prompt": "y"})", "prompt",
       "unknown field", kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 3,
           "max_completion_tokens": 4})", "max_tokens", "differ", kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})",
       "tools", "tool calls are not served", kChat},
      {R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type":
           "json_object"}})", "response_format", "not supported", kChat},
  };
  for (const BadCase& c : cases) {
    ApiError error;
    EXPECT_FALSE(Parse(c.body, error, c.endpoint).has_value()) << c.body;
    EXPECT_EQ(error.http_status, 400) << c.body;
    EXPECT_EQ(error.param, c.param) << c.body;
    EXPECT_THAT(error.message, HasSubstr(c.says)) << c.body;
    const auto j = nlohmann::json::parse(error.ToJson());
    EXPECT_EQ(j["error"]["type"], "invalid_request_error");
    EXPECT_EQ(j["error"]["message"], error.message);
    if (c.param[0] == '\0') {
      EXPECT_TRUE(j["error"]["param"].is_null());
    } else {
      EXPECT_EQ(j["error"]["param"], c.param);
    }
  }
}

}  // namespace
}  // namespace strata::coordinator
