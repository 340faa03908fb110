// Speculative decoding through whole clusters (coordinator and CPU workers as processes, the
// fixture pack as its own draft): 1, 2 and 3 workers return exactly the greedy ids of
// single-process `strata generate`; four concurrent requests, speculating in shared steps,
// get the ids they get alone; a seeded sampled request gets the ids a plain cluster gives it
// (one draw per token, from the target); a request cancelled by its stop string mid-tree
// leaves the cluster serving.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include "tests/support/run_process.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using json = nlohmann::json;

constexpr int kMaxTokens = 16;
constexpr auto kReady = std::chrono::seconds(120);

// The value of the sample named `name` (without labels) in Prometheus text; -1 if absent.
double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

class SpeculativeClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("UCX_TLS", "tcp", 1); }

  static ClusterLayout Layout(int workers, const std::string& tree, const std::string& branch) {
    ClusterLayout layout;
    layout.workers = workers;
    layout.coordinator_args = {"--draft-model", FixturePackDir(), "--speculative", tree,
                               "--draft-branch", branch};
    return layout;
  }
  static json Greedy(const std::string& prompt, int max_tokens = kMaxTokens) {
    return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0},
            {"return_token_ids", true}};
  }
  static std::vector<int32_t> Ids(const json& body) {
    return body["choices"][0]["token_ids"].get<std::vector<int32_t>>();
  }
  static std::vector<int32_t> GenerateIds(const std::string& prompt) {
    ProcessResult r = RunProcess({STRATA_CLI_PATH, "generate", "--model", FixturePackDir(),
                                  "--prompt", prompt, "--max-tokens", std::to_string(kMaxTokens),
                                  "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["output_ids"].get<std::vector<int32_t>>();
  }
};

TEST_F(SpeculativeClusterTest, OneTwoAndThreeWorkersGiveSingleProcessGreedyIds) {
  const std::string prompt = ReferenceCases()[1].prompt;
  const std::vector<int32_t> single = GenerateIds(prompt);
  for (int workers : {1, 2, 3}) {
    for (const auto& [tree, branch] : {std::pair{"6", "1"}, std::pair{"12", "3"}}) {
      TestCluster cluster(Layout(workers, tree, branch));
      ASSERT_TRUE(cluster.WaitReady(kReady)) << cluster.Logs();
      auto [status, body] = cluster.Complete(Greedy(prompt));
      ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
      EXPECT_EQ(Ids(body), single) << workers << " workers, tree " << tree << " branch " << branch;
      // The model drafting for itself: every chain node accepted, 7 tokens a pass.
      const std::string metrics = cluster.CoordinatorMetrics();
      const double passes = MetricValue(metrics, "strata_speculative_tokens_per_pass_count");
      EXPECT_GT(passes, 0) << metrics;
      if (std::string(branch) == "1") {
        EXPECT_DOUBLE_EQ(MetricValue(metrics, "strata_speculative_tree_nodes_sum"), 6 * passes);
        EXPECT_GE(MetricValue(metrics, "strata_speculative_tokens_per_pass_sum"), 7 * (passes - 1));
      }
      EXPECT_GT(MetricValue(metrics, "strata_speculative_draft_seconds_count"), 0);
      EXPECT_EQ(MetricValue(metrics, "strata_speculative_verify_seconds_count"), passes);
    }
  }
}

TEST_F(SpeculativeClusterTest, ConcurrentSpeculatingRequestsGetWhatTheyGetAlone) {
  TestCluster cluster(Layout(2, "8", "2"));
  ASSERT_TRUE(cluster.WaitReady(kReady)) << cluster.Logs();
  std::vector<json> requests;
  for (int i = 0; i < 4; ++i) {
    requests.push_back(Greedy(ReferenceCases()[static_cast<size_t>(i % 3)].prompt, 10 + 3 * i));
  }
  std::vector<std::vector<int32_t>> alone;
  for (const json& r : requests) {
    auto [status, body] = cluster.Complete(r);
    ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
    alone.push_back(Ids(body));
  }
  std::vector<std::future<std::pair<int, json>>> futures;
  for (const json& r : requests) {
    futures.push_back(std::async(std::launch::async, [&cluster, r] { return cluster.Complete(r); }));
  }
  for (size_t i = 0; i < futures.size(); ++i) {
    auto [status, body] = futures[i].get();
    ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
    EXPECT_EQ(Ids(body), alone[i]) << "request " << i;
  }
}

TEST_F(SpeculativeClusterTest, ASeededSampleIsThePlainClustersAndAStopStringEndsItMidTree) {
  const std::string prompt = ReferenceCases()[0].prompt;
  // No nucleus: a top_p cut is sensitive to the last bits of the logits, which a tree's batch
  // shape moves (the CPU GEMMs are not batch-invariant); a plain draw per token is not.
  json sampled = {{"prompt", prompt}, {"max_tokens", kMaxTokens}, {"temperature", 0.8},
                  {"seed", 11}, {"return_token_ids", true}};
  ClusterLayout plain_layout;
  plain_layout.workers = 2;
  std::vector<int32_t> plain;
  std::string text;
  {
    TestCluster cluster(plain_layout);
    ASSERT_TRUE(cluster.WaitReady(kReady)) << cluster.Logs();
    auto [status, body] = cluster.Complete(sampled);
    ASSERT_EQ(status, 200) << body.dump();
    plain = Ids(body);
    auto [greedy_status, greedy] = cluster.Complete(Greedy(prompt));
    ASSERT_EQ(greedy_status, 200);
    text = greedy["choices"][0]["text"].get<std::string>();
  }
  TestCluster cluster(Layout(2, "8", "2"));
  ASSERT_TRUE(cluster.WaitReady(kReady)) << cluster.Logs();
  auto [status, body] = cluster.Complete(sampled);
  ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(Ids(body), plain);
  // A stop string from the middle of the greedy text: the request ends there, with trees in
  // flight; the sequence is closed and the next request runs whole.
  ASSERT_GT(text.size(), 12u);
  json stopped = Greedy(prompt);
  stopped["stop"] = text.substr(text.size() / 2, 4);
  auto [stop_status, stop_body] = cluster.Complete(stopped);
  ASSERT_EQ(stop_status, 200) << stop_body.dump();
  EXPECT_EQ(stop_body["choices"][0]["finish_reason"], "stop");
  EXPECT_LT(stop_body["choices"][0]["text"].get<std::string>().size(), text.size());
  auto [again_status, again] = cluster.Complete(Greedy(prompt));
  ASSERT_EQ(again_status, 200) << again.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(again["choices"][0]["text"].get<std::string>(), text);
}

TEST_F(SpeculativeClusterTest, BadSpeculationFlagsStopTheCoordinatorWithOneLine) {
  TempDir dir("speculation-flags");
  const std::string token = dir.File("token");
  std::ofstream(token) << "test-cluster-token\n";
  auto refused = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {STRATA_COORDINATOR_PATH, "--model", FixturePackDir(),
                                     "--http", "127.0.0.1:0", "--control", "127.0.0.1:0",
                                     "--token-file", token, "--max-batch-tokens", "64"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const ProcessResult r = RunProcess(argv);
    EXPECT_NE(r.exit_code, 0);
    return r.err;
  };
  EXPECT_THAT(refused({"--draft-model", FixturePackDir(), "--speculative", "40"}),
              ::testing::HasSubstr("--max-batch-tokens of at least 81"));
  EXPECT_THAT(refused({"--speculative", "auto"}), ::testing::HasSubstr("needs --draft-model"));
  EXPECT_THAT(refused({"--draft-model", TinyModelDir(), "--speculative", "4"}),
              ::testing::HasSubstr("is not a Strata pack"));
}

}  // namespace
}  // namespace strata::testing
