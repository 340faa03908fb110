// `strata pack` end to end: a one-line summary and a pack that opens and tokenizes; a second
// run without --force fails with a one-line error; --force replaces the pack.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/storage/pack.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/run_process.h"
#include "tests/unit/storage/storage_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::ProcessResult;

ProcessResult Strata(std::vector<std::string> args) {
  args.insert(args.begin(), STRATA_CLI_PATH);
  return testing::RunProcess(args);
}

TEST(PackCli, PacksOnceThenNeedsForce) {
  testing::TempDir tmp("cli");
  const std::string out = tmp.File("p");
  ProcessResult r = Strata({"pack", "--model", testing::TinyModelDir(), "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex("packed 6 layers \\(bf16, 33\\.48 MB\\) in [0-9.]+ s "
                                             "into .*/p\n"));
  EXPECT_TRUE(std::filesystem::exists(out + "/manifest.json"));
  EXPECT_TRUE(Pack::Open(out).ok());

  // The pack directory serves tokenization like the model directory.
  ProcessResult from_pack = Strata({"tokenize", "--model", out, "Hello, packs!"});
  ProcessResult from_model =
      Strata({"tokenize", "--model", testing::TinyModelDir(), "Hello, packs!"});
  ASSERT_EQ(from_pack.exit_code, 0) << from_pack.err;
  EXPECT_EQ(from_pack.out, from_model.out);

  r = Strata({"pack", "--model", testing::TinyModelDir(), "--out", out, "--dtype", "fp8"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("strata: error: pack directory "));
  EXPECT_THAT(r.err, HasSubstr("already exists; pass --force"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = Strata(
      {"pack", "--model", testing::TinyModelDir(), "--out", out, "--dtype", "fp8", "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(fp8, "));
  StatusOr<Pack> pack = Pack::Open(out);
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  EXPECT_EQ(pack->dtype(), PackDType::kFP8);

  r = Strata({"pack", "--model", testing::TinyModelDir(), "--out", out, "--dtype", "int3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--dtype"));
}

}  // namespace
}  // namespace strata
