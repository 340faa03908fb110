// POST /v1/completions bodies: defaults, and a 400 naming the field for each kind of bad
// input, with OpenAI's error shape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "coordinator/completion_request.h"

namespace strata::coordinator {
namespace {

using ::testing::HasSubstr;

TEST(CompletionRequestTest, DefaultsFollowOpenAI) {
  ApiError error;
  const auto r = ParseCompletionRequest(R"({"prompt": "Hi", "unknown_field": [1]})", "m", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_EQ(r->prompt, "Hi");
  EXPECT_EQ(r->max_tokens, 16);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 1.0f);
  EXPECT_FALSE(r->has_seed);
  EXPECT_FALSE(r->return_token_ids);
}

TEST(CompletionRequestTest, ReadsEveryField) {
  ApiError error;
  const auto r = ParseCompletionRequest(
      R"({"model": "m", "prompt": "x", "max_tokens": 3, "temperature": 0, "top_p": 0.5,
          "top_k": -1, "seed": 42, "return_token_ids": true, "stream": false, "n": 1})",
      "m", error);
  ASSERT_TRUE(r.has_value()) << error.message;
  EXPECT_EQ(r->max_tokens, 3);
  EXPECT_EQ(r->sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.5f);
  EXPECT_EQ(r->sampling.top_k, 0);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_TRUE(r->has_seed);
  EXPECT_TRUE(r->return_token_ids);
}

struct BadCase {
  const char* body;
  const char* param;  // "" for null
  const char* says;
};

TEST(CompletionRequestTest, BadInputIsA400NamingTheField) {
  const BadCase cases[] = {
      {"{not json", "", "not valid JSON"},
      {"[1, 2]", "", "must be a JSON object"},
      {"{}", "prompt", "prompt is required"},
      {R"({"prompt": ""})", "prompt", "prompt is empty"},
      {R"({"prompt": ["a", "b"]})", "prompt", "must be a string"},
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
      {R"({"prompt": "x", "stream": true})", "stream", "not supported"},
      {R"({"prompt": "x", "n": 2})", "n", "n = 1"},
      {R"({"prompt": "x", "return_token_ids": 1})", "return_token_ids", "true or false"},
  };
  for (const BadCase& c : cases) {
    ApiError error;
    EXPECT_FALSE(ParseCompletionRequest(c.body, "m", error).has_value()) << c.body;
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
