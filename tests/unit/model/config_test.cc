// Tests for config.h: the fixture's config.json field by field, defaults and alternative
// spellings, every rejection with its code and the field it names, and the JSON round trip.
#include "common/model/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "tests/unit/model/model_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

const std::string kSource = "/models/x/config.json";

Json FixtureConfigJson() {
  return Json::parse(testing::ReadFile(testing::TinyModelDir() + "/config.json"));
}

StatusOr<ModelConfig> ParseEdited(const std::function<void(Json&)>& edit) {
  Json j = FixtureConfigJson();
  edit(j);
  return ParseModelConfig(j.dump(), kSource);
}

void ExpectEqualConfigs(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings,
            b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

TEST(ConfigTest, ParsesFixtureFieldByField) {
  StatusOr<ModelConfig> c = LoadModelConfig(testing::TinyModelDir() + "/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 192);
  EXPECT_EQ(c->num_layers, 6);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->q_dim(), 64);
  EXPECT_EQ(c->kv_dim(), 32);
  EXPECT_EQ(c->vocab_size, 128256);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->bos_token_id, 128000);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
}

TEST(ConfigTest, LoadMissingFileIsNotFound) {
  StatusOr<ModelConfig> c = LoadModelConfig("/nonexistent/strata/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/strata/config.json"));
}

TEST(ConfigTest, EosAsIntAndTokenIdsAbsent) {
  StatusOr<ModelConfig> c = ParseEdited([](Json& j) { j["eos_token_id"] = 128009; });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{128009}));

  c = ParseEdited([](Json& j) {
    j.erase("eos_token_id");
    j["bos_token_id"] = nullptr;
  });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->eos_token_ids.empty());
  EXPECT_EQ(c->bos_token_id, -1);
}

TEST(ConfigTest, DefaultsForOptionalFields) {
  StatusOr<ModelConfig> c = ParseEdited([](Json& j) {
    j.erase("head_dim");
    j.erase("num_key_value_heads");
    j.erase("rope_theta");
    j.erase("tie_word_embeddings");
    j.erase("hidden_act");
    j.erase("model_type");
    j["rope_scaling"] = nullptr;
  });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->head_dim, 16);  // 64 / 4
  EXPECT_EQ(c->num_kv_heads, 4);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);

  c = ParseEdited([](Json& j) { j["head_dim"] = nullptr; });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->head_dim, 16);
}

TEST(ConfigTest, ExplicitHeadDimNeedNotDivideHidden) {
  StatusOr<ModelConfig> c = ParseEdited([](Json& j) { j["head_dim"] = 32; });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->q_dim(), 128);
}

TEST(ConfigTest, RopeScalingSpellings) {
  StatusOr<ModelConfig> c = ParseEdited([](Json& j) { j.erase("rope_scaling"); });
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);

  c = ParseEdited([](Json& j) { j["rope_scaling"] = {{"rope_type", "default"}}; });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);

  c = ParseEdited([](Json& j) {
    j["rope_scaling"].erase("rope_type");
    j["rope_scaling"]["type"] = "llama3";
  });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
}

// transformers >= 5 saves rope settings as `rope_parameters`, with rope_theta inside and no
// top-level rope_theta or rope_scaling (this config.json was written by transformers 5.17).
TEST(ConfigTest, TransformersFiveRopeParameters) {
  const std::string v5 = R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 128000, "dtype": "bfloat16", "eos_token_id": [128001, 128008, 128009],
    "head_dim": 16, "hidden_act": "silu", "hidden_size": 96, "initializer_range": 0.02,
    "intermediate_size": 288, "max_position_embeddings": 4096, "mlp_bias": false,
    "model_type": "llama", "num_attention_heads": 6, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "pad_token_id": null, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                        "original_max_position_embeddings": 8192, "rope_theta": 500000.0,
                        "rope_type": "llama3"},
    "tie_word_embeddings": false, "transformers_version": "5.17.0", "use_cache": true,
    "vocab_size": 128256})";
  StatusOr<ModelConfig> c = ParseModelConfig(v5, kSource);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);

  Json j = Json::parse(v5);
  j["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "default"}};
  c = ParseModelConfig(j.dump(), kSource);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kNone);

  j["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "yarn"}, {"factor", 4.0}};
  c = ParseModelConfig(j.dump(), kSource);
  EXPECT_EQ(c.status().code(), StatusCode::kUnimplemented);
  EXPECT_THAT(c.status().message(), HasSubstr("rope_parameters"));

  j["rope_parameters"] = {{"rope_theta", -1.0}, {"rope_type", "default"}};
  c = ParseModelConfig(j.dump(), kSource);
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("rope_parameters.rope_theta"));
}

TEST(ConfigTest, TiedAndIntegralFloats) {
  StatusOr<ModelConfig> c = ParseEdited([](Json& j) {
    j["tie_word_embeddings"] = true;
    j["hidden_size"] = 64.0;
    j["rope_scaling"]["original_max_position_embeddings"] = 8192.0;
  });
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
}

struct RejectCase {
  const char* label;
  std::function<void(Json&)> edit;
  StatusCode code;
  std::vector<std::string> message_parts;
};

TEST(ConfigTest, RejectsUnsupportedAndInvalidConfigs) {
  const StatusCode kInvalid = StatusCode::kInvalidArgument;
  const StatusCode kUnimpl = StatusCode::kUnimplemented;
  const std::vector<RejectCase> cases = {
      {"mistral",
       [](Json& j) { j["architectures"] = {"MistralForCausalLM"}; },
       kUnimpl,
       {"MistralForCausalLM"}},
      {"no architectures",
       [](Json& j) { j.erase("architectures"); },
       kInvalid,
       {"'architectures'", "missing"}},
      {"architectures not a list",
       [](Json& j) { j["architectures"] = "LlamaForCausalLM"; },
       kInvalid,
       {"'architectures'"}},
      {"model_type",
       [](Json& j) { j["model_type"] = "mistral"; },
       kUnimpl,
       {"model_type", "mistral"}},
      {"hidden_act", [](Json& j) { j["hidden_act"] = "gelu"; }, kUnimpl, {"hidden_act", "gelu"}},
      {"attention_bias", [](Json& j) { j["attention_bias"] = true; }, kUnimpl, {"attention_bias"}},
      {"mlp_bias", [](Json& j) { j["mlp_bias"] = true; }, kUnimpl, {"mlp_bias"}},
      {"hidden string",
       [](Json& j) { j["hidden_size"] = "abc"; },
       kInvalid,
       {"field 'hidden_size' must be a positive integer", "got \"abc\""}},
      {"hidden zero", [](Json& j) { j["hidden_size"] = 0; }, kInvalid, {"'hidden_size'", "got 0"}},
      {"hidden negative", [](Json& j) { j["hidden_size"] = -64; }, kInvalid, {"'hidden_size'"}},
      {"hidden fractional", [](Json& j) { j["hidden_size"] = 64.5; }, kInvalid, {"'hidden_size'"}},
      {"hidden huge",
       [](Json& j) { j["hidden_size"] = int64_t{1} << 31; },
       kInvalid,
       {"'hidden_size'"}},
      {"layers huge float",
       [](Json& j) { j["num_hidden_layers"] = 1e300; },
       kInvalid,
       {"'num_hidden_layers'"}},
      {"vocab unsigned huge",
       [](Json& j) { j["vocab_size"] = uint64_t{1} << 63; },
       kInvalid,
       {"'vocab_size'"}},
      {"intermediate missing",
       [](Json& j) { j.erase("intermediate_size"); },
       kInvalid,
       {"'intermediate_size'", "missing"}},
      {"max positions missing",
       [](Json& j) { j.erase("max_position_embeddings"); },
       kInvalid,
       {"'max_position_embeddings'"}},
      {"kv heads not dividing",
       [](Json& j) { j["num_key_value_heads"] = 3; },
       kInvalid,
       {"'num_key_value_heads'"}},
      {"heads not dividing hidden",
       [](Json& j) {
         j.erase("head_dim");
         j["num_attention_heads"] = 6;
         j["num_key_value_heads"] = 6;
       },
       kInvalid,
       {"'num_attention_heads'", "hidden_size"}},
      {"head_dim zero", [](Json& j) { j["head_dim"] = 0; }, kInvalid, {"'head_dim'"}},
      {"q_dim overflow",
       [](Json& j) { j["head_dim"] = int64_t{1} << 30; },
       kInvalid,
       {"'head_dim'"}},
      {"eps zero", [](Json& j) { j["rms_norm_eps"] = 0; }, kInvalid, {"'rms_norm_eps'"}},
      {"eps string", [](Json& j) { j["rms_norm_eps"] = "1e-5"; }, kInvalid, {"'rms_norm_eps'"}},
      {"eps missing", [](Json& j) { j.erase("rms_norm_eps"); }, kInvalid, {"'rms_norm_eps'"}},
      {"theta negative", [](Json& j) { j["rope_theta"] = -1.0; }, kInvalid, {"'rope_theta'"}},
      {"rope yarn", [](Json& j) { j["rope_scaling"]["rope_type"] = "yarn"; }, kUnimpl, {"yarn"}},
      {"rope legacy linear",
       [](Json& j) {
         j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
       },
       kUnimpl,
       {"linear"}},
      {"rope no type",
       [](Json& j) {
         j["rope_scaling"] = {{"factor", 2.0}};
       },
       kInvalid,
       {"rope_scaling.rope_type"}},
      {"rope not object", [](Json& j) { j["rope_scaling"] = 8; }, kInvalid, {"'rope_scaling'"}},
      {"rope missing factor",
       [](Json& j) { j["rope_scaling"].erase("factor"); },
       kInvalid,
       {"'rope_scaling.factor'"}},
      {"rope missing original",
       [](Json& j) { j["rope_scaling"].erase("original_max_position_embeddings"); },
       kInvalid,
       {"'rope_scaling.original_max_position_embeddings'"}},
      {"rope freq factors reversed",
       [](Json& j) { j["rope_scaling"]["high_freq_factor"] = 0.5; },
       kInvalid,
       {"'rope_scaling.high_freq_factor'"}},
      {"tie not bool",
       [](Json& j) { j["tie_word_embeddings"] = "yes"; },
       kInvalid,
       {"'tie_word_embeddings'"}},
      {"eos string", [](Json& j) { j["eos_token_id"] = "</s>"; }, kInvalid, {"'eos_token_id'"}},
      {"eos list with string",
       [](Json& j) {
         j["eos_token_id"] = {1, "x"};
       },
       kInvalid,
       {"'eos_token_id'"}},
      {"eos negative", [](Json& j) { j["eos_token_id"] = {-1}; }, kInvalid, {"'eos_token_id'"}},
      {"eos past vocab",
       [](Json& j) { j["eos_token_id"] = 128256; },
       kInvalid,
       {"'eos_token_id'", "vocab_size"}},
      {"bos past vocab", [](Json& j) { j["bos_token_id"] = 200000; }, kInvalid, {"'bos_token_id'"}},
  };
  for (const RejectCase& rc : cases) {
    StatusOr<ModelConfig> c = ParseEdited(rc.edit);
    ASSERT_FALSE(c.ok()) << rc.label;
    EXPECT_EQ(c.status().code(), rc.code) << rc.label << ": " << c.status().ToString();
    EXPECT_THAT(c.status().message(), HasSubstr(kSource)) << rc.label;
    for (const std::string& part : rc.message_parts) {
      EXPECT_THAT(c.status().message(), HasSubstr(part)) << rc.label;
    }
  }
}

TEST(ConfigTest, RejectsTextThatIsNotAnObject) {
  for (const char* text : {"", "{", "[1, 2]", "null", "not json"}) {
    StatusOr<ModelConfig> c = ParseModelConfig(text, kSource);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(c.status().message(), HasSubstr(kSource));
  }
}

TEST(ConfigTest, JsonRoundTrip) {
  const std::vector<std::function<void(Json&)>> variants = {
      [](Json&) {},
      [](Json& j) {
        j["tie_word_embeddings"] = true;
        j["eos_token_id"] = 128009;
        j.erase("bos_token_id");
        j["rope_scaling"] = nullptr;
        j["rms_norm_eps"] = 1.0 / 3.0;
      },
      [](Json& j) { j.erase("eos_token_id"); },
  };
  for (size_t i = 0; i < variants.size(); ++i) {
    StatusOr<ModelConfig> original = ParseEdited(variants[i]);
    ASSERT_TRUE(original.ok()) << original.status().ToString();
    const std::string text = ModelConfigToJson(*original);
    StatusOr<ModelConfig> again = ParseModelConfig(text, "round trip");
    ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << text;
    SCOPED_TRACE("variant " + std::to_string(i));
    ExpectEqualConfigs(*original, *again);
    const Json j = Json::parse(text);
    EXPECT_EQ(j["hidden_size"], original->hidden_size);
    EXPECT_EQ(j["num_hidden_layers"], original->num_layers);
    EXPECT_EQ(j["architectures"], Json::array({"LlamaForCausalLM"}));
  }
}

}  // namespace
}  // namespace strata
