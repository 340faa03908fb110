// `strata generate --draft-model`: speculative decoding from the command line gives the ids
// plain greedy decoding gives (fixed tree sizes and auto), reports its passes with --stats,
// and refuses bad settings and drafts of another tokenizer in one line.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/reference_fixture.h"
#include "tests/support/run_process.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

ProcessResult Strata(std::vector<std::string> args) {
  args.insert(args.begin(), STRATA_CLI_PATH);
  return RunProcess(args);
}

std::vector<int32_t> OutputIds(const ProcessResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out).at("output_ids").get<std::vector<int32_t>>();
}

TEST(CliSpeculative, GreedyIdsAreThePlainRunsForFixedAndAutoTrees) {
  const ReferenceCase& c = ReferenceCases()[1];
  const std::vector<std::string> base = {"generate", "--model",      TinyModelDir(), "--prompt",
                                         c.prompt,   "--max-tokens", "16",           "--json"};
  const std::vector<int32_t> plain = OutputIds(Strata(base));
  ASSERT_EQ(plain.size(), 16u);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--speculative", "5", "--draft-branch", "1"},
        std::vector<std::string>{"--speculative", "12", "--draft-branch", "3"},
        std::vector<std::string>{}}) {  // auto
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--draft-model", TinyModelDir(), "--stats"});
    args.insert(args.end(), extra.begin(), extra.end());
    const ProcessResult r = Strata(args);
    EXPECT_EQ(OutputIds(r), plain) << r.err;
    EXPECT_THAT(r.err, HasSubstr("tokens per pass"));
  }
}

TEST(CliSpeculative, BadSettingsAndForeignDraftsAreOneLineErrors) {
  const std::string prompt = ReferenceCases()[0].prompt;
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", TinyModelDir(), "--prompt", prompt};
    args.insert(args.end(), extra.begin(), extra.end());
    const ProcessResult r = Strata(args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  };
  EXPECT_THAT(run({"--draft-model", TinyModelDir(), "--speculative", "0"}),
              HasSubstr("give off, auto or a tree size"));
  EXPECT_THAT(run({"--draft-model", TinyModelDir(), "--speculative", "many"}),
              HasSubstr("give off, auto or a tree size"));
  EXPECT_THAT(run({"--speculative", "auto"}), HasSubstr("needs --draft-model"));
  EXPECT_THAT(run({"--draft-model", "/nonexistent/draft"}), HasSubstr("/nonexistent/draft"));

  // A draft whose config names another vocabulary.
  TempDir tmp;
  const fs::path draft = tmp.File("draft");
  fs::create_directory(draft);
  for (const fs::directory_entry& e : fs::directory_iterator(TinyModelDir())) {
    if (e.path().filename() != "config.json") {
      fs::create_symlink(e.path(), draft / e.path().filename());
    }
  }
  std::ifstream in(fs::path(TinyModelDir()) / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["vocab_size"] = 128320;  // the target has 128256
  std::ofstream(draft / "config.json") << config.dump();
  EXPECT_THAT(run({"--draft-model", draft.string()}), HasSubstr("vocabularies of 128320 and 128256"));
}

}  // namespace
}  // namespace strata::testing
