// The model-directory loader: a Hugging Face directory and a pack directory (manifest.json
// only, no weights.bin) give the config, dtype, names, tokenizer and stop ids; opening reads
// only the config; missing or invalid files are errors that name what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/storage/pack_format.h"
#include "common/storage/pack_manifest.h"
#include "common/loader/model_directory.h"
#include "tests/support/temp_dir.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

const std::string kFixture = std::string(STRATA_TEST_FIXTURES) + "/tiny-llama31";

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(ModelDirectoryTest, ReadsAHuggingFaceDirectory) {
  const StatusOr<ModelDirectory> info = LoadModelDirectory(kFixture);
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

TEST(ModelDirectoryTest, ReadsAPackManifestWithoutWeightsAndAddsGenerationStopIds) {
  const StatusOr<ModelDirectory> hf = LoadModelDirectory(kFixture);
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
  const StatusOr<ModelDirectory> info = LoadModelDirectory(pack + "/");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  // Served as the checkpoint it was made from, the pack's own name an alias.
  EXPECT_THAT(info->names, ElementsAre("Llama-3.1-70B-Instruct", "my-pack"));
  EXPECT_EQ(info->dtype, "fp8");
  EXPECT_EQ(info->chat_template, nullptr);
  EXPECT_THAT(info->chat_template_error, HasSubstr("tokenizer_config.json"));
  EXPECT_EQ(info->config.num_layers, 6);
  EXPECT_THAT(info->stop_ids, UnorderedElementsAre(128001, 128009));
}

TEST(ModelDirectoryTest, MissingFilesAreErrorsNamingThem) {
  const StatusOr<ModelDirectory> none = LoadModelDirectory("/no/such/model");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("/no/such/model"));

  strata::testing::TempDir empty("coordinator_empty");
  const StatusOr<ModelDirectory> no_config = LoadModelDirectory(empty.path());
  EXPECT_THAT(no_config.status().message(), HasSubstr("neither manifest.json"));

  strata::testing::TempDir no_tokenizer("coordinator_no_tokenizer");
  std::filesystem::copy_file(kFixture + "/config.json", no_tokenizer.File("config.json"));
  const StatusOr<ModelDirectory> missing = LoadModelDirectory(no_tokenizer.path());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("tokenizer.json"));
}

TEST(ModelDirectoryTest, OpeningReadsOnlyTheConfig) {
  strata::testing::TempDir dir("loader_open");
  std::filesystem::copy_file(kFixture + "/config.json", dir.File("config.json"));
  const StatusOr<ModelDirectory> opened = OpenModelDirectory(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_FALSE(opened->is_pack);
  EXPECT_EQ(opened->config.num_layers, 6);
  EXPECT_EQ(opened->tokenizer, nullptr);
  EXPECT_TRUE(opened->stop_ids.empty());
  EXPECT_FALSE(IsPackDirectory(dir.path()));
}

TEST(ModelDirectoryTest, GenerationStopIdsOutsideTheVocabularyAreRefused) {
  strata::testing::TempDir dir("loader_bad_stop");
  for (const char* f : {"config.json", "tokenizer.json"}) {
    std::filesystem::copy_file(kFixture + "/" + f, dir.File(f));
  }
  for (const char* bad : {R"({"eos_token_id": -1})", R"({"eos_token_id": [1, 99999999999]})",
                          R"({"eos_token_id": "2"})", R"([1])"}) {
    WriteText(dir.File("generation_config.json"), bad);
    const StatusOr<ModelDirectory> m = LoadModelDirectory(dir.path());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(m.status().message(), HasSubstr("generation_config.json")) << bad;
  }
}

TEST(ModelDirectoryTest, TheTokenizerAloneLoadsFromAnyDirectoryHoldingIt) {
  strata::testing::TempDir dir("loader_tokenizer");
  std::filesystem::copy_file(kFixture + "/tokenizer.json", dir.File("tokenizer.json"));
  EXPECT_TRUE(LoadTokenizerOf(dir.path()).ok());
  const StatusOr<Tokenizer> none = LoadTokenizerOf(dir.File("nothing"));
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata
