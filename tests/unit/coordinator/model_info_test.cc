// LoadModelInfo: a Hugging Face directory and a pack directory (manifest.json only, no
// weights.bin) give the config, dtype, tokenizer and stop ids; missing files are errors
// that name what is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/storage/pack_format.h"
#include "common/storage/pack_manifest.h"
#include "coordinator/model_info.h"
#include "tests/support/temp_dir.h"

namespace strata::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const std::string kFixture = std::string(STRATA_TEST_FIXTURES) + "/tiny-llama31";

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(ModelInfoTest, ReadsAHuggingFaceDirectory) {
  const StatusOr<ModelInfo> info = LoadModelInfo(kFixture);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_THAT(info->names, ElementsAre("tiny-llama31"));
  EXPECT_EQ(info->config.num_layers, 6);
  EXPECT_TRUE(info->dtype.empty());
  ASSERT_NE(info->chat_template, nullptr) << info->chat_template_error;
  EXPECT_THAT(info->stop_ids, UnorderedElementsAre(128001, 128008, 128009));
  const auto ids = info->tokenizer->Encode("Hello", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 128000);  // BOS
}

TEST(ModelInfoTest, ReadsAPackManifestWithoutWeightsAndAddsGenerationStopIds) {
  const StatusOr<ModelInfo> hf = LoadModelInfo(kFixture);
  ASSERT_TRUE(hf.ok());
  ModelConfig config = hf->config;
  config.eos_token_ids = {128001};
  strata::testing::TempDir dir("coordinator_pack");
  const std::string pack = dir.File("my-pack");
  std::filesystem::create_directories(pack);
  PackManifest manifest = PlanPack(config, PackDType::kFP8);
  manifest.source = "/models/Llama-3.1-70B-Instruct/";
  WriteText(pack + "/manifest.json", PackManifestToJson(manifest));
  std::filesystem::copy_file(kFixture + "/tokenizer.json", pack + "/tokenizer.json");
  WriteText(pack + "/generation_config.json", R"({"eos_token_id": [128009, 128001]})");
  const StatusOr<ModelInfo> info = LoadModelInfo(pack + "/");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  // Served as the checkpoint it was made from, the pack's own name an alias.
  EXPECT_THAT(info->names, ElementsAre("Llama-3.1-70B-Instruct", "my-pack"));
  EXPECT_EQ(info->dtype, "fp8");
  EXPECT_EQ(info->chat_template, nullptr);
  EXPECT_THAT(info->chat_template_error, HasSubstr("tokenizer_config.json"));
  EXPECT_EQ(info->config.num_layers, 6);
  EXPECT_THAT(info->stop_ids, UnorderedElementsAre(128001, 128009));
}

TEST(ModelInfoTest, MissingFilesAreErrorsNamingThem) {
  const StatusOr<ModelInfo> none = LoadModelInfo("/no/such/model");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("/no/such/model"));

  strata::testing::TempDir empty("coordinator_empty");
  const StatusOr<ModelInfo> no_config = LoadModelInfo(empty.path());
  EXPECT_THAT(no_config.status().message(), HasSubstr("neither manifest.json"));

  strata::testing::TempDir no_tokenizer("coordinator_no_tokenizer");
  std::filesystem::copy_file(kFixture + "/config.json", no_tokenizer.File("config.json"));
  const StatusOr<ModelInfo> missing = LoadModelInfo(no_tokenizer.path());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("tokenizer.json"));
}

}  // namespace
}  // namespace strata::coordinator
