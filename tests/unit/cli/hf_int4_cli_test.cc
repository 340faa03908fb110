// `strata generate` and `strata pack` on Hugging Face AWQ/GPTQ checkpoints written from the
// tiny fixture: the last-position logits and greedy ids against the same model with the
// dequantised weights as a bf16 checkpoint, a pack of the checkpoint generating exactly what
// the checkpoint does, and the CLI's refusals.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/hf_int4_writer.h"
#include "tests/support/run_process.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using Method = HfQuantization::Method;

ProcessResult Strata(std::vector<std::string> args) {
  args.insert(args.begin(), STRATA_CLI_PATH);
  return RunProcess(args);
}

struct Generated {
  std::vector<int32_t> ids;
  std::vector<float> logits;  // (vocab) at the last prompt position
};

Generated Generate(const std::string& model, const std::string& logits_path) {
  ProcessResult g = Strata({"generate", "--model", model, "--prompt", "The capital of France is",
                            "--max-tokens", "16", "--json", "--dump-logits", logits_path});
  EXPECT_EQ(g.exit_code, 0) << g.err;
  Generated out;
  if (g.exit_code != 0) return out;
  out.ids = nlohmann::json::parse(g.out).at("output_ids").get<std::vector<int32_t>>();
  const std::string bytes = ReadFile(logits_path);
  out.logits.resize(bytes.size() / sizeof(float));
  std::memcpy(out.logits.data(), bytes.data(), out.logits.size() * sizeof(float));
  return out;
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += double{a[i]} * b[i];
    aa += double{a[i]} * a[i];
    bb += double{b[i]} * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

class HfInt4CliTest : public ::testing::TestWithParam<HfInt4Spec> {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(Model());
    std::filesystem::create_directory(Reference());
    WriteDequantizedCheckpoint(Reference(), WriteHfInt4Checkpoint(Model(), GetParam()), GetParam());
  }
  std::string Model() const { return tmp_.File("model"); }
  std::string Reference() const { return tmp_.File("reference"); }
  TempDir tmp_;
};

// The int4 weights are (q - z) * bf16(s), the reference's bf16((q - z) * s): each within 2^-8
// of the fp32 weight (~0.2% rms apart), so the last-position logits agree to cosine 0.999
// (measured 0.9996-0.9999; a misread layout gives ~0). The fixture's random weights make
// near-ties, so greedy ids are compared over the first kComparableSteps steps (they were
// seen to part at step 7 at the earliest).
constexpr size_t kComparableSteps = 4;

TEST_P(HfInt4CliTest, GenerateMatchesTheDequantisedBf16Reference) {
  const Generated got = Generate(Model(), tmp_.File("q.f32"));
  const Generated want = Generate(Reference(), tmp_.File("r.f32"));
  ASSERT_EQ(got.logits.size(), want.logits.size());
  ASSERT_FALSE(got.logits.empty());
  EXPECT_GT(Cosine(got.logits, want.logits), 0.999);
  ASSERT_EQ(got.ids.size(), want.ids.size());
  ASSERT_GE(got.ids.size(), kComparableSteps);
  EXPECT_EQ(std::vector<int32_t>(got.ids.begin(), got.ids.begin() + kComparableSteps),
            std::vector<int32_t>(want.ids.begin(), want.ids.begin() + kComparableSteps));
}

// The pack holds the converted arrays unchanged, so the same computation runs on them.
TEST_P(HfInt4CliTest, PackGeneratesExactlyWhatTheCheckpointDoes) {
  ProcessResult p = Strata({"pack", "--model", Model(), "--out", tmp_.File("pack")});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_THAT(p.out, HasSubstr("(int4,"));
  const Generated from_checkpoint = Generate(Model(), tmp_.File("c.f32"));
  const Generated from_pack = Generate(tmp_.File("pack"), tmp_.File("p.f32"));
  EXPECT_EQ(from_pack.ids, from_checkpoint.ids);
  EXPECT_TRUE(from_pack.logits == from_checkpoint.logits) << "logits differ";
}

INSTANTIATE_TEST_SUITE_P(
    Variants, HfInt4CliTest,
    ::testing::Values(HfInt4Spec{Method::kAwq, 32},
                      HfInt4Spec{Method::kGptq, 32, /*sym=*/true, /*gptq_v1=*/true},
                      HfInt4Spec{Method::kGptq, 32, /*sym=*/false, /*gptq_v1=*/false,
                                 /*act_order=*/true}),
    SpecTestName);

void ExpectOneLineError(const ProcessResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(needle));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(HfInt4CliErrors, PackRefusesOtherDtypesAndGroupSizes) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  WriteHfInt4Checkpoint(tmp.File("m"), {Method::kAwq, 32});
  ExpectOneLineError(Strata({"pack", "--model", tmp.File("m"), "--out", tmp.File("p"), "--dtype", "bf16"}),
                     "is AWQ 4-bit, group 32; it packs only as int4 (its 4-bit codes are copied, "
                     "not re-quantised): drop --dtype bf16 or pass --dtype int4");
  ExpectOneLineError(Strata({"pack", "--model", tmp.File("m"), "--out", tmp.File("p"), "--dtype", "fp8"}),
                     "drop --dtype fp8");
  ExpectOneLineError(Strata({"pack", "--model", tmp.File("m"), "--out", tmp.File("p"), "--group-size", "64"}),
                     "a pack of it keeps that group size: drop --group-size 64");
  EXPECT_EQ(Strata({"pack", "--model", tmp.File("m"), "--out", tmp.File("p"), "--dtype", "int4",
                    "--group-size", "32"}).exit_code, 0);
  // A plain checkpoint still wants --dtype int4 for --group-size.
  ExpectOneLineError(Strata({"pack", "--model", TinyModelDir(), "--out", tmp.File("q"), "--group-size", "32"}),
                     "--group-size applies to --dtype int4 only");
}

TEST(HfInt4CliErrors, GenerateRefusesUnsupportedCheckpoints) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  WriteHfInt4Checkpoint(tmp.File("m"), {Method::kAwq, 32});
  EditJsonFile(tmp.File("m/config.json"), [](nlohmann::json& j) { j["quantization_config"]["version"] = "exllama"; });
  ExpectOneLineError(Strata({"generate", "--model", tmp.File("m"), "--prompt", "hi"}),
                     "quantization_config AWQ version \"exllama\" (its packing differs from "
                     "gemm's) is not supported; Strata loads 4-bit AWQ checkpoints");
  EditJsonFile(tmp.File("m/config.json"), [](nlohmann::json& j) {
    j["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 8}, {"group_size", 32}};
  });
  ExpectOneLineError(Strata({"generate", "--model", tmp.File("m"), "--prompt", "hi"}),
                     "quantization_config bits 8 is not supported");
}

}  // namespace
}  // namespace strata::testing
