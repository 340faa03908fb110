// `strata pack --synthetic`: random weights of a named model's shapes as a pack that serves
// text with a real tokenizer (vocabulary and BOS/EOS from its config), and clear errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/storage/pack.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/run_process.h"
#include "tests/support/temp_dir.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;

TEST(SyntheticPackCli, WritesAPackThatGeneratesWithTheGivenTokenizer) {
  testing::TempDir dir("synthetic_cli");
  const std::string out = dir.File("pack");
  testing::ProcessResult packed =
      RunProcess({STRATA_CLI_PATH, "pack", "--synthetic", "tiny", "--layers", "2", "--tokenizer",
                  testing::TinyModelDir(), "--out", out});
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  EXPECT_THAT(packed.out, HasSubstr("packed 2 layers"));
  StatusOr<Pack> pack = Pack::Open(out);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  EXPECT_EQ(pack->config().vocab_size, 128256);
  EXPECT_EQ(pack->config().hidden_size, 256);
  EXPECT_EQ(pack->config().bos_token_id, 128000);
  testing::ProcessResult gen = RunProcess({STRATA_CLI_PATH, "generate", "--model", out, "--prompt",
                                           "Hello", "--max-tokens", "3", "--json"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const nlohmann::json j = nlohmann::json::parse(gen.out);
  EXPECT_EQ(j["input_ids"], nlohmann::json::array({128000, 9906}));
  EXPECT_EQ(j["output_ids"].size(), 3u);

  testing::ProcessResult again = RunProcess(
      {STRATA_CLI_PATH, "pack", "--synthetic", "tiny", "--layers", "2", "--out", out});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  testing::ProcessResult neither = RunProcess({STRATA_CLI_PATH, "pack", "--out", dir.File("x")});
  EXPECT_EQ(neither.exit_code, 1);
  EXPECT_THAT(neither.err, HasSubstr("exactly one of --model HF_DIR or --synthetic"));
}

}  // namespace
}  // namespace strata
