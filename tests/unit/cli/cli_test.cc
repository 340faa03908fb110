// The `strata` binary end to end: tokenize and generate on the tiny checkpoint against the
// Hugging Face reference, --dump-logits, --chat, and one-line errors with a non-zero exit for
// bad arguments, a missing model and a corrupt checkpoint.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/reference_fixture.h"
#include "tests/support/run_process.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

namespace fs = std::filesystem;

ProcessResult Strata(std::vector<std::string> args) {
  args.insert(args.begin(), STRATA_CLI_PATH);
  return RunProcess(args);
}


void ExpectOneLineError(const ProcessResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, ::testing::HasSubstr(needle));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CliTokenize, MatchesReferenceIdsWithAndWithoutBos) {
  const ReferenceCase& c = ReferenceCases()[0];
  ProcessResult r = Strata({"tokenize", "--model", TinyModelDir(), c.prompt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).get<std::vector<int32_t>>(), c.input_ids);
  r = Strata({"tokenize", "--model", TinyModelDir(), "--no-bos", c.prompt});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).get<std::vector<int32_t>>(),
            std::vector<int32_t>(c.input_ids.begin() + 1, c.input_ids.end()));
}

TEST(CliGenerate, JsonGreedyIdsAndDumpedLogitsMatchReference) {
  TempDir tmp;
  for (size_t i = 0; i < ReferenceCases().size(); ++i) {
    const ReferenceCase& c = ReferenceCases()[i];
    const std::string logits_path = tmp.File("logits" + std::to_string(i));
    std::vector<std::string> args = {"generate", "--model", TinyModelDir(), "--max-tokens", "24",
                                     "--json", "--dump-logits", logits_path};
    if (c.chat_json.empty()) {
      args.insert(args.end(), {"--prompt", c.prompt});
    } else {
      const std::string chat_path = tmp.File("chat.json");
      std::ofstream(chat_path) << c.chat_json;
      args.insert(args.end(), {"--chat", chat_path});
    }
    ProcessResult r = Strata(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("input_ids").get<std::vector<int32_t>>(), c.input_ids) << "case " << i;
    const auto out = j.at("output_ids").get<std::vector<int32_t>>();
    // The fixture model never emits an end id in these 24 steps, so every step is there.
    ASSERT_EQ(out.size(), c.greedy_ids.size());
    for (size_t s = 0; s < ComparableGreedySteps(c); ++s) EXPECT_EQ(out[s], c.greedy_ids[s]);
    EXPECT_TRUE(j.at("text").is_string());

    std::ifstream in(logits_path, std::ios::binary);
    std::vector<float> logits(c.logits_last.size());
    in.read(reinterpret_cast<char*>(logits.data()),
            static_cast<std::streamsize>(logits.size() * sizeof(float)));
    ASSERT_EQ(static_cast<size_t>(in.gcount()), logits.size() * sizeof(float));
    EXPECT_EQ(in.peek(), EOF) << "logits file longer than the vocabulary";
    EXPECT_LT(MaxRelativeError(logits, c.logits_last), 1e-4);
  }
}

TEST(CliGenerate, PlainOutputIsTheDecodedText) {
  const ReferenceCase& c = ReferenceCases()[0];
  ProcessResult plain = Strata({"generate", "--model", TinyModelDir(), "--prompt", c.prompt,
                                "--max-tokens", "3"});
  ProcessResult json = Strata({"generate", "--model", TinyModelDir(), "--prompt", c.prompt,
                               "--max-tokens", "3", "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(plain.out, nlohmann::json::parse(json.out).at("text").get<std::string>() + "\n");
}

TEST(CliGenerate, SameSeedSameSample) {
  const ReferenceCase& c = ReferenceCases()[1];
  auto run = [&](const std::string& seed) {
    ProcessResult r = Strata({"generate", "--model", TinyModelDir(), "--prompt", c.prompt,
                              "--max-tokens", "12", "--temperature", "1.0", "--top-p", "0.95",
                              "--top-k", "50", "--seed", seed, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out).at("output_ids").get<std::vector<int32_t>>();
  };
  EXPECT_EQ(run("7"), run("7"));
  EXPECT_NE(run("7"), run("8"));
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(CliGenerate, PackGivesTheCheckpointsIdsAndLogitsForEveryTierMix) {
  TempDir tmp;
  const std::string pack = tmp.File("pack");
  ProcessResult r = Strata({"pack", "--model", TinyModelDir(), "--out", pack});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ReferenceCase& c = ReferenceCases()[1];
  auto generate = [&](const std::string& model, std::vector<std::string> extra) {
    const std::string logits = tmp.File("logits");
    std::vector<std::string> args = {"generate", "--model", model, "--prompt", c.prompt,
                                     "--max-tokens", "12", "--json", "--dump-logits", logits};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult g = Strata(args);
    EXPECT_EQ(g.exit_code, 0) << g.err;
    return std::make_pair(nlohmann::json::parse(g.out).at("output_ids"), ReadAll(logits));
  };
  const auto want = generate(TinyModelDir(), {});
  for (const std::vector<std::string>& tiers :
       {std::vector<std::string>{}, {"--gpu-layers", "6"}, {"--gpu-layers", "0"},
        {"--gpu-layers", "2", "--pinned-layers", "2", "--prefetch-ssd", "1"},
        {"--pinned-layers", "3", "--prefetch-h2d", "0", "--prefetch-ssd", "0"}}) {
    const auto got = generate(pack, tiers);
    EXPECT_EQ(got.first, want.first);
    EXPECT_TRUE(got.second == want.second) << "logits differ";
  }
  ProcessResult stats = Strata({"generate", "--model", pack, "--prompt", "hi", "--max-tokens",
                                "2", "--gpu-layers", "1", "--stats"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.err, ::testing::HasSubstr("ssd_read"));
  EXPECT_THAT(stats.err, ::testing::HasSubstr("tokens/s"));
}

// The figure after `label` in a refusal ("... at least 19.70 MiB (...") as a --gpu-mem value,
// one hundredth of its unit above it so the two-decimal rounding cannot fall below it.
std::string StatedMinimum(const std::string& err, const std::string& label) {
  const size_t at = err.find(label);
  EXPECT_NE(at, std::string::npos) << err;
  if (at == std::string::npos) return "0";
  std::istringstream in(err.substr(at + label.size()));
  double value = 0;
  std::string unit;
  in >> value >> unit;  // "19.70" "MiB"
  return std::to_string(value + 0.01) + unit.substr(0, 1);
}

// A budget the old whole-layer rules refused (two GPU staging slots and pinned slots of whole
// layers beside the GPU's ends) runs when some placement fits: exactly at the minimum each
// budget's refusal states, with the unconstrained model's ids and logits; below it, the
// refusal states that minimum.
TEST(CliGenerate, RunsAtTheMinimumBudgetsItStates) {
  TempDir tmp;
  const std::string pack = tmp.File("pack");
  ASSERT_EQ(Strata({"pack", "--model", TinyModelDir(), "--out", pack}).exit_code, 0);
  const ReferenceCase& c = ReferenceCases()[1];
  const auto generate = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", pack, "--prompt", c.prompt,
                                     "--max-tokens", "8", "--json",
                                     "--dump-logits", tmp.File("logits")};
    args.insert(args.end(), extra.begin(), extra.end());
    return Strata(args);
  };
  const ProcessResult want = generate({});
  ASSERT_EQ(want.exit_code, 0) << want.err;
  const std::string want_logits = ReadAll(tmp.File("logits"));

  const ProcessResult refused = generate({"--gpu-mem", "1M", "--pinned-mem", "1M"});
  ExpectOneLineError(refused, "do not fit");
  const std::string gpu = StatedMinimum(refused.err, "GPU budget must be at least ");
  const std::string pinned = StatedMinimum(refused.err, "pinned budget at least ");
  const ProcessResult tight = generate({"--gpu-mem", gpu, "--pinned-mem", pinned, "--stats"});
  ASSERT_EQ(tight.exit_code, 0) << tight.err;
  EXPECT_EQ(nlohmann::json::parse(tight.out).at("output_ids"),
            nlohmann::json::parse(want.out).at("output_ids"));
  EXPECT_TRUE(ReadAll(tmp.File("logits")) == want_logits) << "logits differ";
  EXPECT_THAT(tight.err, ::testing::HasSubstr("1 GPU slot"));
  EXPECT_THAT(tight.err, ::testing::HasSubstr("a ring of 1 chunks"));
}

TEST(CliErrors, TierFlagsNeedAPack) {
  ExpectOneLineError(Strata({"generate", "--model", TinyModelDir(), "--prompt", "x",
                             "--gpu-layers", "2"}),
                     "strata pack");
  ExpectOneLineError(Strata({"generate", "--model", TinyModelDir(), "--prompt", "x",
                             "--backend", "tpu"}),
                     "tpu");
  ExpectOneLineError(Strata({"generate", "--model", TinyModelDir(), "--prompt", "x",
                             "--fp8-activations"}),
                     "--fp8-activations is a CUDA backend option");
}

TEST(CliErrors, BadArgumentsGiveOneLineAndNonZeroExit) {
  ExpectOneLineError(Strata({"generate", "--model", TinyModelDir()}), "--prompt");
  ProcessResult r = Strata({"generate", "--model", TinyModelDir(), "--prompt", "x",
                            "--max-tokens", "many"});
  EXPECT_NE(r.exit_code, 0);
  r = Strata({"generate", "--model", TinyModelDir(), "--prompt", "x", "--temperature", "-1"});
  EXPECT_NE(r.exit_code, 0);
  r = Strata({"frobnicate"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(CliErrors, MissingModelDirectory) {
  ExpectOneLineError(Strata({"generate", "--model", "/nonexistent/model", "--prompt", "hi"}),
                     "/nonexistent/model");
  ExpectOneLineError(Strata({"tokenize", "--model", "/nonexistent/model", "hi"}),
                     "/nonexistent/model");
}

TEST(CliErrors, CorruptCheckpointNamesTheFile) {
  TempDir tmp;
  for (const auto& e : fs::directory_iterator(TinyModelDir())) {
    fs::copy_file(e.path(), fs::path(tmp.path()) / e.path().filename());
  }
  // Cut the last shard in half: its tensors now run past the end of the file.
  const fs::path shard = fs::path(tmp.path()) / "model-00003-of-00003.safetensors";
  fs::permissions(shard, fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(shard, fs::file_size(shard) / 2);
  ExpectOneLineError(Strata({"generate", "--model", tmp.path(), "--prompt", "hi"}),
                     "model-00003-of-00003.safetensors");
}

TEST(CliErrors, BadChatFile) {
  TempDir tmp;
  const std::string chat = tmp.File("chat.json");
  std::ofstream(chat) << R"([{"role": "user"}])";
  ExpectOneLineError(
      Strata({"generate", "--model", TinyModelDir(), "--chat", chat, "--max-tokens", "1"}),
      "content");
  ExpectOneLineError(Strata({"generate", "--model", TinyModelDir(), "--chat",
                             tmp.File("missing.json")}),
                     "missing.json");
}

}  // namespace
}  // namespace strata::testing
