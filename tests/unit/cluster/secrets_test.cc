// No secret leaves a cluster through what it says: a coordinator with an API key and two CPU
// workers (real processes, UCX over TCP) are driven with the right key, a wrong one and none,
// a worker with a wrong cluster token (refused on the control plane) and a sender with a wrong
// token on a worker's data port (refused on the data plane); then every log, every /metrics
// exposition, /v1/cluster and every HTTP answer are searched for the cluster token, the API key
// and the wrong secrets presented. The refusals themselves must be in the logs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/transport/ucx/ucx_transport.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kClusterToken[] = "test-cluster-token";  // the harness's
constexpr char kApiKey[] = "sk-strata-secret-api-key-5d1f";
constexpr char kWrongApiKey[] = "sk-someone-elses-api-key-93b0";
constexpr char kWrongToken[] = "wrong-cluster-token-7c2e";
constexpr char kWrongDataToken[] = "wrong-data-plane-token-a41b";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteSecret(const std::string& path, const std::string& secret) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  std::fputs((secret + "\n").c_str(), f);
  std::fclose(f);
  chmod(path.c_str(), 0600);
}

// The HOST:PORT after `key` in the log at `path` ("" if absent).
std::string AddressAfter(const std::string& path, const std::string& key) {
  const std::string text = ReadAll(path);
  const size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size();
  return text.substr(begin, text.find_first_of(" \n)", begin) - begin);
}

TEST(SecretsTest, NoSecretInLogsMetricsStatusOrAnswers) {
  setenv("UCX_TLS", "tcp", 1);
  TempDir dir("secrets");
  const std::string key_file = dir.File("api.key");
  WriteSecret(key_file, kApiKey);
  ClusterLayout layout;
  layout.workers = 2;
  layout.coordinator_args = {"--api-key-file", key_file};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(120s));

  std::string seen;  // every answer, status lines, headers and bodies
  httplib::Client http("127.0.0.1", cluster.http_port());
  http.set_read_timeout(120s);
  const auto record = [&](const httplib::Result& r) {
    if (!r) return 0;
    seen += std::to_string(r->status) + "\n";
    for (const auto& [name, value] : r->headers) seen += name + ": " + value + "\n";
    seen += r->body + "\n";
    return r->status;
  };
  const json completion = {{"prompt", "The capital of France is"}, {"max_tokens", 4},
                           {"temperature", 0}};
  const httplib::Headers right = {{"Authorization", std::string("Bearer ") + kApiKey}};
  const httplib::Headers wrong = {{"Authorization", std::string("Bearer ") + kWrongApiKey}};
  EXPECT_EQ(record(http.Post("/v1/completions", right, completion.dump(), "application/json")), 200);
  json streamed = completion;
  streamed["stream"] = true;
  EXPECT_EQ(record(http.Post("/v1/completions", right, streamed.dump(), "application/json")), 200);
  EXPECT_EQ(record(http.Post("/v1/completions", wrong, completion.dump(), "application/json")), 401);
  EXPECT_EQ(record(http.Post("/v1/completions", completion.dump(), "application/json")), 401);
  EXPECT_EQ(record(http.Get("/v1/models", wrong)), 401);
  EXPECT_EQ(record(http.Get("/v1/cluster", wrong)), 401);
  EXPECT_EQ(record(http.Get("/health")), 200);
  EXPECT_EQ(record(http.Get("/ready")), 200);

  // A worker with a wrong cluster token: refused by the coordinator, exits 1.
  const std::string wrong_token_file = dir.File("wrong.token");
  WriteSecret(wrong_token_file, kWrongToken);
  StatusOr<cli::ChildProcess> rogue = cli::ChildProcess::Start(
      {STRATA_WORKER_PATH, "--coordinator", cluster.control(), "--model", cluster.pack(),
       "--token-file", wrong_token_file, "--name", "rogue", "--metrics-address", "127.0.0.1:0"},
      dir.File("rogue.log"));
  ASSERT_TRUE(rogue.ok()) << rogue.status().ToString();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (rogue->Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(rogue->exit_description(), "exited with code 1");

  // A sender with a wrong token on the second stage's data port: refused.
  const std::string data_address =
      AddressAfter(cluster.children()[0].log_path(), "receiving at ");
  ASSERT_FALSE(data_address.empty()) << cluster.Logs();
  transport::LinkOptions link_options;
  link_options.timeout = 5s;
  const auto intruder = transport::CreateUcxTransport(
      {"127.0.0.1", 0, "127.0.0.1", kWrongDataToken}, link_options);
  EXPECT_FALSE(intruder->Connect(data_address, {4, 64, transport::ActivationDtype::kF32, 1}).ok());

  // The cluster serves on; its state and every process's metrics.
  EXPECT_EQ(record(http.Post("/v1/completions", right, completion.dump(), "application/json")), 200);
  EXPECT_EQ(record(http.Get("/v1/cluster", right)), 200);
  std::string metrics;
  for (cli::ChildProcess& c : cluster.children()) {
    const std::string address = AddressAfter(c.log_path(), "metrics listening on ");
    ASSERT_FALSE(address.empty()) << c.log_path();
    httplib::Client m(address.substr(0, address.rfind(':')),
                      std::stoi(address.substr(address.rfind(':') + 1)));
    httplib::Result r = m.Get("/metrics");
    ASSERT_TRUE(r && r->status == 200) << address;
    metrics += r->body;
  }
  EXPECT_THAT(metrics, HasSubstr("strata_requests_total"));

  // Every process stopped, so its log is complete.
  for (cli::ChildProcess& c : cluster.children()) c.Stop(10s);
  std::string logs = ReadAll(dir.File("rogue.log"));
  for (cli::ChildProcess& c : cluster.children()) logs += ReadAll(c.log_path());
  EXPECT_THAT(logs, HasSubstr("wrong cluster token"));  // the coordinator and the rogue
  EXPECT_THAT(logs, HasSubstr("refused the sender at"));  // the data plane

  for (const char* secret : {kClusterToken, kApiKey, kWrongApiKey, kWrongToken, kWrongDataToken}) {
    EXPECT_THAT(logs, Not(HasSubstr(secret)));
    EXPECT_THAT(metrics, Not(HasSubstr(secret)));
    EXPECT_THAT(seen, Not(HasSubstr(secret)));
  }
}

}  // namespace
}  // namespace strata::testing
