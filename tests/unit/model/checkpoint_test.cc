// Tests for checkpoint.h: the sharded fixture, a single-file checkpoint, and each way a model
// directory can be incomplete or inconsistent, with the code and the files named.
#include "common/model/checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

#include "tests/unit/model/model_test_util.h"

namespace strata {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kShard1[] = "model-00001-of-00003.safetensors";
constexpr char kShard2[] = "model-00002-of-00003.safetensors";
constexpr char kShard3[] = "model-00003-of-00003.safetensors";
constexpr char kIndex[] = "model.safetensors.index.json";

class CheckpointTest : public ::testing::Test {
 protected:
  // Opens dir_ and expects `code` with each of `parts` in the message.
  void ExpectError(StatusCode code, const std::vector<std::string>& parts) {
    StatusOr<Checkpoint> c = Checkpoint::Open(dir_.path());
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), code) << c.status().ToString();
    for (const std::string& part : parts) EXPECT_THAT(c.status().message(), HasSubstr(part));
  }
  void EditIndex(const std::function<void(Json&)>& edit) {
    testing::EditJsonFile(dir_.File(kIndex), edit);
  }

  testing::TempDir dir_;
};

TEST_F(CheckpointTest, OpensShardedFixture) {
  StatusOr<Checkpoint> c = Checkpoint::Open(testing::TinyModelDir());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dir(), testing::TinyModelDir());
  EXPECT_EQ(c->config().num_layers, 6);
  EXPECT_EQ(c->num_tensors(), 1u + 6 * 9 + 1 + 1);
  const TensorInfo* embed = c->Find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_THAT(embed->file, EndsWith(kShard1));
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{128256, 64}));
  ASSERT_NE(c->Find("lm_head.weight"), nullptr);
  EXPECT_THAT(c->Find("lm_head.weight")->file, EndsWith(kShard2));
  ASSERT_NE(c->Find("model.layers.5.mlp.down_proj.weight"), nullptr);
  EXPECT_THAT(c->Find("model.layers.5.mlp.down_proj.weight")->file, EndsWith(kShard3));
  EXPECT_EQ(c->Find("model.layers.6.mlp.down_proj.weight"), nullptr);

  Checkpoint moved = std::move(*c);  // tensors stay valid across a move
  EXPECT_EQ(moved.Find("model.embed_tokens.weight"), embed);
}

TEST_F(CheckpointTest, OpensSingleFile) {
  testing::WriteTinyLlama(dir_.path(), testing::TinyLlamaConfig(), testing::TinyLlamaTensors(true));
  StatusOr<Checkpoint> c = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->num_tensors(), 1u + 2 * 9 + 1 + 1);
  ASSERT_NE(c->Find("model.norm.weight"), nullptr);
  EXPECT_EQ(c->Find("model.norm.weight")->file, dir_.File("model.safetensors"));
}

TEST_F(CheckpointTest, MissingDirectory) {
  StatusOr<Checkpoint> c = Checkpoint::Open(dir_.File("nope"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(),
              HasSubstr("model directory " + dir_.File("nope") + " does not exist"));
}

TEST_F(CheckpointTest, PathIsAFile) {
  testing::WriteFile(dir_.File("file"), "x");
  StatusOr<Checkpoint> c = Checkpoint::Open(dir_.File("file"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("not a directory"));
}

TEST_F(CheckpointTest, MissingConfig) {
  testing::CopyFixtureModel(dir_.path());
  std::filesystem::remove(dir_.File("config.json"));
  ExpectError(StatusCode::kNotFound, {"config.json", dir_.path()});
}

TEST_F(CheckpointTest, UnsupportedArchitectureNamesConfig) {
  testing::CopyFixtureModel(dir_.path());
  testing::EditJsonFile(dir_.File("config.json"),
                        [](Json& j) { j["architectures"] = {"MistralForCausalLM"}; });
  ExpectError(StatusCode::kUnimplemented, {"MistralForCausalLM", dir_.File("config.json")});
}

TEST_F(CheckpointTest, NoWeights) {
  testing::WriteFile(dir_.File("config.json"), testing::TinyLlamaConfig().dump());
  ExpectError(StatusCode::kNotFound, {"no model.safetensors or model.safetensors.index.json"});
}

TEST_F(CheckpointTest, MissingShard) {
  testing::CopyFixtureModel(dir_.path());
  std::filesystem::remove(dir_.File(kShard2));
  ExpectError(StatusCode::kNotFound, {kShard2, dir_.File(kIndex), "re-download"});
}

TEST_F(CheckpointTest, TensorNotInItsShard) {
  testing::CopyFixtureModel(dir_.path());
  EditIndex([](Json& j) { j["weight_map"]["lm_head.weight"] = kShard1; });
  ExpectError(StatusCode::kDataLoss, {"'lm_head.weight'", kShard1, dir_.File(kIndex)});
}

TEST_F(CheckpointTest, ShardNamesMustBePlainFileNames) {
  testing::CopyFixtureModel(dir_.path());
  for (const char* name : {"../model-00001-of-00003.safetensors", "/etc/passwd", "..", ""}) {
    EditIndex([name](Json& j) { j["weight_map"]["model.embed_tokens.weight"] = name; });
    ExpectError(StatusCode::kDataLoss, {"'model.embed_tokens.weight'", "not a file name"});
  }
  EditIndex([](Json& j) { j["weight_map"]["model.embed_tokens.weight"] = 1; });
  ExpectError(StatusCode::kDataLoss, {"'model.embed_tokens.weight'"});
}

TEST_F(CheckpointTest, IndexNotJsonOrWithoutWeightMap) {
  testing::CopyFixtureModel(dir_.path());
  for (const char* text :
       {"{", "[]", "{\"metadata\": {}}", "{\"weight_map\": {}}", "{\"weight_map\": []}"}) {
    testing::WriteFile(dir_.File(kIndex), text);
    ExpectError(StatusCode::kDataLoss, {dir_.File(kIndex), "weight_map"});
  }
}

TEST_F(CheckpointTest, TruncatedShard) {
  testing::CopyFixtureModel(dir_.path());
  const std::string bytes = testing::ReadFile(testing::TinyModelDir() + "/" + kShard3);
  std::filesystem::remove(dir_.File(kShard3));
  testing::WriteFile(dir_.File(kShard3), bytes.substr(0, bytes.size() - 100));
  ExpectError(StatusCode::kDataLoss,
              {dir_.File(kShard3), "past the end of the data", "re-download"});
}

TEST_F(CheckpointTest, TensorInTwoShards) {
  testing::WriteFile(dir_.File("config.json"), testing::TinyLlamaConfig().dump());
  const std::vector<testing::SyntheticTensor> a = {{"x", "F32", {2}, testing::F32Data(2)}};
  const std::vector<testing::SyntheticTensor> b = {{"x", "F32", {2}, testing::F32Data(2)},
                                                   {"y", "F32", {1}, testing::F32Data(1)}};
  testing::WriteFile(dir_.File("a.safetensors"), testing::SyntheticSafetensors(a));
  testing::WriteFile(dir_.File("b.safetensors"), testing::SyntheticSafetensors(b));
  testing::WriteFile(dir_.File(kIndex),
                     Json{{"weight_map", {{"x", "a.safetensors"}, {"y", "b.safetensors"}}}}.dump());
  ExpectError(StatusCode::kDataLoss,
              {"'x'", dir_.File("a.safetensors"), dir_.File("b.safetensors")});
}

}  // namespace
}  // namespace strata
