// Tests for llama_weights.h: every fixture tensor bound with its dtype and shape, a bf16
// value checked against the file's bytes read independently, tied and untied heads, and
// missing or mis-shaped tensors named with their files and shapes.
#include "common/model/llama_weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "tests/unit/model/model_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

void ExpectView(const WeightView& v, const Checkpoint& c, const std::string& name, int64_t rows,
                int64_t cols) {
  SCOPED_TRACE(name);
  const TensorInfo* t = c.Find(name);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(v.data, t->data);
  EXPECT_EQ(v.dtype, DType::kBF16);
  EXPECT_EQ(v.rows, rows);
  EXPECT_EQ(v.cols, cols);
  EXPECT_EQ(v.nbytes(), t->nbytes);
}

// The bytes of `name` read straight from the safetensors file at `path`, without Strata.
std::string ReadTensorBytes(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | len_bytes[i];
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  const Json offsets = Json::parse(header)[name]["data_offsets"];
  const uint64_t begin = offsets[0], end = offsets[1];
  std::string bytes(end - begin, '\0');
  in.seekg(static_cast<std::streamoff>(8 + len + begin));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

TEST(LlamaWeightsTest, BindsFixture) {
  StatusOr<Checkpoint> c = Checkpoint::Open(testing::TinyModelDir());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  StatusOr<LlamaWeights> w = BindLlamaWeights(*c);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ExpectView(w->embed, *c, "model.embed_tokens.weight", 128256, 64);
  ExpectView(w->final_norm, *c, "model.norm.weight", 1, 64);
  ExpectView(w->lm_head, *c, "lm_head.weight", 128256, 64);
  EXPECT_NE(w->lm_head.data, w->embed.data);
  ASSERT_EQ(w->layers.size(), 6u);
  for (size_t i = 0; i < w->layers.size(); ++i) {
    const LlamaLayerWeights& l = w->layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    ExpectView(l.attn_norm, *c, p + "input_layernorm.weight", 1, 64);
    ExpectView(l.wq, *c, p + "self_attn.q_proj.weight", 64, 64);
    ExpectView(l.wk, *c, p + "self_attn.k_proj.weight", 32, 64);
    ExpectView(l.wv, *c, p + "self_attn.v_proj.weight", 32, 64);
    ExpectView(l.wo, *c, p + "self_attn.o_proj.weight", 64, 64);
    ExpectView(l.mlp_norm, *c, p + "post_attention_layernorm.weight", 1, 64);
    ExpectView(l.w_gate, *c, p + "mlp.gate_proj.weight", 192, 64);
    ExpectView(l.w_up, *c, p + "mlp.up_proj.weight", 192, 64);
    ExpectView(l.w_down, *c, p + "mlp.down_proj.weight", 64, 192);
  }
}

TEST(LlamaWeightsTest, BF16ValuesMatchTheFileBytes) {
  StatusOr<Checkpoint> c = Checkpoint::Open(testing::TinyModelDir());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  StatusOr<LlamaWeights> w = BindLlamaWeights(*c);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::string raw = ReadTensorBytes(
      testing::TinyModelDir() + "/model-00003-of-00003.safetensors", "model.norm.weight");
  ASSERT_EQ(raw.size(), 128u);
  std::vector<float> values(64);
  ConvertToFloat(w->final_norm.data, w->final_norm.dtype, values.data(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const uint32_t bits = static_cast<uint32_t>(static_cast<unsigned char>(raw[2 * i]) |
                                                (static_cast<unsigned char>(raw[2 * i + 1]) << 8))
                          << 16;
    float expected;
    std::memcpy(&expected, &bits, 4);
    ASSERT_EQ(values[i], expected) << i;
  }
  EXPECT_NE(values[0], 0.0f);
}

class LlamaWeightsErrorTest : public ::testing::Test {
 protected:
  StatusOr<LlamaWeights> OpenAndBind() {
    StatusOr<Checkpoint> c = Checkpoint::Open(dir_.path());
    if (!c.ok()) return c.status();
    checkpoint_ = std::make_unique<Checkpoint>(std::move(*c));
    return BindLlamaWeights(*checkpoint_);
  }
  void ExpectError(const std::vector<std::string>& parts) {
    StatusOr<LlamaWeights> w = OpenAndBind();
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.status().code(), StatusCode::kDataLoss) << w.status().ToString();
    for (const std::string& part : parts) EXPECT_THAT(w.status().message(), HasSubstr(part));
  }

  testing::TempDir dir_;
  std::unique_ptr<Checkpoint> checkpoint_;
};

TEST_F(LlamaWeightsErrorTest, ShapeDisagreesWithConfig) {
  testing::CopyFixtureModel(dir_.path());
  testing::EditJsonFile(dir_.File("config.json"), [](Json& j) { j["hidden_size"] = 32; });
  ExpectError({"'model.embed_tokens.weight'", dir_.File("model-00001-of-00003.safetensors"),
               "[128256, 64]", "[128256, 32]"});
}

TEST_F(LlamaWeightsErrorTest, TensorMissingFromIndex) {
  testing::CopyFixtureModel(dir_.path());
  testing::EditJsonFile(dir_.File("model.safetensors.index.json"), [](Json& j) {
    j["weight_map"].erase("model.layers.3.mlp.up_proj.weight");
  });
  ExpectError(
      {"tensor 'model.layers.3.mlp.up_proj.weight' is missing from checkpoint " + dir_.path()});
}

TEST_F(LlamaWeightsErrorTest, UntiedWithoutLmHead) {
  testing::CopyFixtureModel(dir_.path());
  testing::EditJsonFile(dir_.File("model.safetensors.index.json"),
                        [](Json& j) { j["weight_map"].erase("lm_head.weight"); });
  ExpectError({"'lm_head.weight'", "missing"});
}

TEST_F(LlamaWeightsErrorTest, TiedUsesEmbeddingEvenWithLmHeadPresent) {
  testing::CopyFixtureModel(dir_.path());
  testing::EditJsonFile(dir_.File("config.json"), [](Json& j) { j["tie_word_embeddings"] = true; });
  StatusOr<LlamaWeights> w = OpenAndBind();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->lm_head.data, w->embed.data);
  EXPECT_EQ(w->lm_head.rows, 128256);
}

TEST_F(LlamaWeightsErrorTest, TiedWithoutLmHeadAndF32) {
  Json config = testing::TinyLlamaConfig();
  config["tie_word_embeddings"] = true;
  testing::WriteTinyLlama(dir_.path(), config, testing::TinyLlamaTensors(false));
  StatusOr<LlamaWeights> w = OpenAndBind();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->lm_head.data, w->embed.data);
  EXPECT_EQ(w->embed.dtype, DType::kF32);
  EXPECT_EQ(w->layers[1].wk.rows, 4);
  float first;
  std::memcpy(&first, w->embed.data, 4);
  EXPECT_EQ(first, 0.0f);
  std::memcpy(&first, w->final_norm.data, 4);
  EXPECT_EQ(first, 19.0f);  // the 20th tensor written starts at 19
}

TEST_F(LlamaWeightsErrorTest, NormWithTwoDimensions) {
  std::vector<testing::SyntheticTensor> tensors = testing::TinyLlamaTensors(true);
  for (testing::SyntheticTensor& t : tensors) {
    if (t.name == "model.layers.1.post_attention_layernorm.weight") t.shape = {1, 8};
  }
  testing::WriteTinyLlama(dir_.path(), testing::TinyLlamaConfig(), tensors);
  ExpectError({"'model.layers.1.post_attention_layernorm.weight'", dir_.File("model.safetensors"),
               "[1, 8]", "implies [8]"});
}

}  // namespace
}  // namespace strata
