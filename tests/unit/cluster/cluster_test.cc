// Multi-process clusters on the tiny fixture, over gRPC and UCX (TCP): clusters of 1, 2 and 3
// CPU workers return exactly the greedy ids of single-process `strata generate` and of the
// Hugging Face reference; 4 concurrent requests through 3 workers each get the ids they get
// alone, also when a worker is killed mid-generation and restarted (the requests resume on the
// new plan), or not restarted but replaced by a --spare worker; a worker with the wrong token
// is refused; a lost worker fails requests at once
// with --no-recover;
// a 3-worker cluster across three network namespaces serves the same ids, and when one of
// their links is cut mid-request the request fails within the bound and the cluster heals
// once the link is back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <future>
#include <sstream>
#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/run_process.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr int kMaxTokens = 12;
constexpr auto kReady = std::chrono::seconds(120);

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("UCX_TLS", "tcp", 1); }

  static json Greedy(const std::string& prompt) {
    return {{"prompt", prompt}, {"max_tokens", kMaxTokens}, {"temperature", 0},
            {"return_token_ids", true}};
  }

  // Single-process `strata generate` on the same pack.
  static std::vector<int32_t> GenerateIds(const std::string& prompt) {
    std::vector<std::string> argv = {STRATA_CLI_PATH, "generate", "--model", FixturePackDir(),
                                     "--prompt", prompt, "--max-tokens", std::to_string(kMaxTokens),
                                     "--json"};
    ProcessResult r = RunProcess(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["output_ids"].get<std::vector<int32_t>>();
  }

  static std::vector<int32_t> Ids(const json& body) {
    return body["choices"][0]["token_ids"].get<std::vector<int32_t>>();
  }

  // Four greedy requests over the reference prompts, request i asking for
  // `tokens` + i * `step` tokens.
  static std::vector<json> FourRequests(int tokens, int step) {
    std::vector<json> requests;
    for (int i = 0; i < 4; ++i) {
      json r = Greedy(ReferenceCases()[static_cast<size_t>(i % 3)].prompt);
      r["max_tokens"] = tokens + step * i;
      requests.push_back(r);
    }
    return requests;
  }
  // The ids each request gets alone, one after the other.
  static std::vector<std::vector<int32_t>> RunAlone(TestCluster& cluster,
                                                    const std::vector<json>& requests) {
    std::vector<std::vector<int32_t>> alone;
    for (const json& r : requests) {
      auto [status, body] = cluster.Complete(r);
      EXPECT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
      if (status != 200) return {};
      alone.push_back(Ids(body));
    }
    return alone;
  }
  // All of them at once.
  static std::vector<std::future<std::pair<int, json>>> StartAll(TestCluster& cluster,
                                                                 const std::vector<json>& requests) {
    std::vector<std::future<std::pair<int, json>>> futures;
    for (const json& r : requests) {
      futures.push_back(
          std::async(std::launch::async, [&cluster, r] { return cluster.Complete(r); }));
    }
    return futures;
  }
  // Each of `futures` answers 200 with the ids its request got alone.
  static void ExpectIdsOfAlone(std::vector<std::future<std::pair<int, json>>>& futures,
                               const std::vector<std::vector<int32_t>>& alone,
                               const TestCluster& cluster) {
    for (size_t i = 0; i < futures.size(); ++i) {
      auto [status, body] = futures[i].get();
      ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
      EXPECT_EQ(Ids(body), alone[i]) << "request " << i;
    }
  }

  // The reference's greedy ids up to its first near-tie (where float rounding may flip).
  static std::vector<int32_t> HfGreedyPrefix(const ReferenceCase& c, size_t n) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < std::min(n, c.greedy_ids.size()); ++i) {
      ids.push_back(c.greedy_ids[i]);
      if (c.greedy_top1_margins[i] < 1e-3f) break;
    }
    return ids;
  }
};

TEST_F(ClusterTest, OneTwoAndThreeWorkersGiveSingleProcessAndReferenceGreedyIds) {
  std::vector<const ReferenceCase*> cases;
  for (const ReferenceCase& c : ReferenceCases()) {
    if (!c.prompt.empty()) cases.push_back(&c);
  }
  std::vector<std::vector<int32_t>> single;
  for (const ReferenceCase* c : cases) single.push_back(GenerateIds(c->prompt));
  for (int workers : {1, 2, 3}) {
    ClusterLayout layout;
    layout.workers = workers;
    TestCluster cluster(layout);
    ASSERT_TRUE(cluster.WaitReady(kReady));
    for (size_t i = 0; i < cases.size(); ++i) {
      auto [status, body] = cluster.Complete(Greedy(cases[i]->prompt));
      ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
      EXPECT_EQ(body["prompt_token_ids"].get<std::vector<int32_t>>(), cases[i]->input_ids);
      const std::vector<int32_t> ids = Ids(body);
      EXPECT_EQ(ids, single[i]) << workers << " workers, prompt " << i;
      const std::vector<int32_t> hf = HfGreedyPrefix(*cases[i], ids.size());
      EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(hf.size())), hf)
          << workers << " workers, prompt " << i;
    }
  }
}

TEST_F(ClusterTest, FourConcurrentRequestsThroughThreeWorkersGetWhatTheyGetAlone) {
  ClusterLayout layout;
  layout.workers = 3;
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  // Greedy: batched decode steps run other GEMM shapes than a lone sequence's, so logits may
  // differ in the last bits (the kernels are not batch-invariant); greedy ids are stable under
  // that, a sampled token at a near-boundary draw need not be.
  // Different lengths: sequences leave the batch apart.
  const std::vector<json> requests = FourRequests(kMaxTokens, 4);
  const std::vector<std::vector<int32_t>> alone = RunAlone(cluster, requests);
  ASSERT_EQ(alone.size(), requests.size());
  std::vector<std::future<std::pair<int, json>>> futures = StartAll(cluster, requests);
  ExpectIdsOfAlone(futures, alone, cluster);

  // Every hop's timing reaches /v1/cluster with the next heartbeats: stage 0 sent, stage 1 both
  // ways, stage 2 received, the same messages on both ends of a link once all are counted.
  json workers;
  const auto counted = [&] {
    workers = cluster.ClusterState()["workers"];
    return workers.size() == 3 && workers[0].contains("sent") && workers[1].contains("sent") &&
           workers[2].contains("received") &&
           workers[1]["received"]["messages"] == workers[0]["sent"]["messages"] &&
           workers[2]["received"]["messages"] == workers[1]["sent"]["messages"];
  };
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !counted() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(counted()) << workers.dump();
  EXPECT_FALSE(workers[0].contains("received"));
  EXPECT_FALSE(workers[2].contains("sent"));
  EXPECT_GT(workers[0]["sent"]["messages"].get<int>(), 4 * kMaxTokens);  // every step went on
  EXPECT_GT(workers[1]["received"]["mean_ms"].get<double>(), 0);
  EXPECT_GE(workers[1]["received"]["max_ms"].get<double>(),
            workers[1]["received"]["mean_ms"].get<double>());
}

TEST_F(ClusterTest, AWorkerWithTheWrongTokenIsRefused) {
  ClusterLayout layout;
  layout.workers = 1;
  layout.worker_token = "not-the-cluster-token";
  TestCluster cluster(layout);
  cli::ChildProcess& worker = cluster.children()[1];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (worker.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(worker.Running()) << cluster.Logs();
  EXPECT_EQ(worker.exit_description(), "exited with code 1");
  const std::string log = cli::LogTail(worker.log_path(), 5);
  EXPECT_THAT(log, HasSubstr("refused"));
  EXPECT_THAT(log, HasSubstr("token"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("test-cluster-token")));
}

TEST_F(ClusterTest, AWorkerKilledMidGenerationAndRestartedLeavesFourRequestsTheirFaultFreeIds) {
  ClusterLayout layout;
  layout.workers = 2;
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  // Long enough to be running when the worker dies.
  const std::vector<json> requests = FourRequests(120, 20);
  const std::vector<std::vector<int32_t>> alone = RunAlone(cluster, requests);
  ASSERT_EQ(alone.size(), requests.size());
  std::vector<std::future<std::pair<int, json>>> futures = StartAll(cluster, requests);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(cluster.children()[2].pid(), SIGKILL);
  cluster.StartWorker(1);  // as a supervisor restarts it
  ExpectIdsOfAlone(futures, alone, cluster);
  EXPECT_THAT(cli::LogTail(cluster.children()[0].log_path(), 200),
              HasSubstr("running requests resume"));
}

TEST_F(ClusterTest, AWorkerKilledMidGenerationIsReplacedByASpareAndFourRequestsGetTheirIds) {
  ClusterLayout layout;
  layout.workers = 2;
  layout.worker_args = {{}, {}, {"--spare"}};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  cluster.StartWorker(2);  // "worker-2", a standby
  const auto registered_spare = [&] {
    const json state = cluster.ClusterState();
    if (!state.is_object() || !state.contains("workers")) return false;
    for (const json& w : state["workers"]) {
      if (w.value("name", "") == "worker-2" && w.value("spare", false) && !w.contains("stage")) {
        return true;
      }
    }
    return false;
  };
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       !registered_spare() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(registered_spare()) << cluster.ClusterState().dump() << "\n" << cluster.Logs();
  const std::vector<json> requests = FourRequests(120, 20);
  const std::vector<std::vector<int32_t>> alone = RunAlone(cluster, requests);
  ASSERT_EQ(alone.size(), requests.size());
  std::vector<std::future<std::pair<int, json>>> futures = StartAll(cluster, requests);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(cluster.children()[2].pid(), SIGKILL);  // worker-1, not restarted
  ExpectIdsOfAlone(futures, alone, cluster);
  EXPECT_THAT(cli::LogTail(cluster.children()[0].log_path(), 200),
              HasSubstr("running requests resume"));
  // The spare holds a stage now.
  const json state = cluster.ClusterState();
  bool spare_serves = false;
  for (const json& w : state["workers"]) {
    spare_serves |= w.value("name", "") == "worker-2" && w.contains("stage");
  }
  EXPECT_TRUE(spare_serves) << state.dump();
}

TEST_F(ClusterTest, ALostWorkerFailsItsRequestsAtOnce) {
  ClusterLayout layout;
  layout.workers = 2;
  layout.coordinator_args = {"--no-recover"};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  json long_request = Greedy(ReferenceCases()[0].prompt);
  long_request["max_tokens"] = kLongTokens;  // still running when killed
  std::future<std::pair<int, json>> pending =
      std::async(std::launch::async, [&] { return cluster.Complete(long_request); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(cluster.children()[2].pid(), SIGKILL);
  const auto start = std::chrono::steady_clock::now();
  auto [status, body] = pending.get();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (status == 200) {
    GTEST_SKIP() << "the request finished before the worker was killed";
  }
  EXPECT_EQ(status, 503) << body.dump();
  EXPECT_LT(seconds, 15.0);
  EXPECT_THAT(body.dump(), HasSubstr("worker-1"));
  httplib::Client client("127.0.0.1", cluster.http_port());
  httplib::Result health = client.Get("/ready");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
}

// Three namespaces on one bridge, one worker in each with its own address; the coordinator
// in the root namespace on the bridge address.
class NetnsCluster {
 public:
  bool Create(std::string* why) {
    RemoveLeftovers();
    const pid_t pid = ::getpid();
    const std::string tag = std::to_string(pid);
    // A /24 of our own, so leftovers of another run cannot shadow it.
    const std::string subnet =
        "10." + std::to_string(100 + pid % 100) + "." + std::to_string(pid / 100 % 250) + ".";
    bridge_ = "sbr" + tag;
    auto sh = [&](const std::string& cmd) {
      ProcessResult r = RunProcess({"/bin/sh", "-c", cmd});
      if (r.exit_code != 0) *why = cmd + ": " + r.err;
      return r.exit_code == 0;
    };
    if (!sh("ip link add " + bridge_ + " type bridge && ip addr add " + subnet + "1/24 dev " +
            bridge_ + " && ip link set " + bridge_ + " up")) {
      return false;
    }
    for (int i = 0; i < 3; ++i) {
      const std::string ns = "sns" + tag + "_" + std::to_string(i);
      const std::string host_end = "sv" + tag + "h" + std::to_string(i);
      const std::string ns_end = "sv" + tag + "n" + std::to_string(i);
      const std::string ip = subnet + std::to_string(10 + i);
      namespaces_.push_back(ns);
      host_ends_.push_back(host_end);
      if (!sh("ip netns add " + ns + " && ip link add " + host_end + " type veth peer name " + ns_end +
              " && ip link set " + ns_end + " netns " + ns + " && ip link set " + host_end +
              " master " + bridge_ + " up && ip netns exec " + ns + " ip addr add " + ip +
              "/24 dev " + ns_end + " && ip netns exec " + ns + " ip link set " + ns_end +
              " up && ip netns exec " + ns + " ip link set lo up")) {
        return false;
      }
      layout_.worker_prefix.push_back({"/usr/bin/env", "ip", "netns", "exec", ns});
      layout_.worker_data_host.push_back(ip);
    }
    layout_.workers = 3;
    layout_.coordinator_host = subnet + "1";
    return true;
  }
  // Bridges and namespaces a killed run of this test left (named after its pid) block nothing
  // but clutter the host: remove those whose process is gone.
  static void RemoveLeftovers() {
    ProcessResult links = RunProcess({"/bin/sh", "-c", "ip -br link | awk '/^sbr[0-9]+ /{print $1}'"});
    std::istringstream names(links.out);
    for (std::string name; names >> name;) {
      const pid_t owner = static_cast<pid_t>(std::atol(name.c_str() + 3));
      if (owner <= 0 || ::kill(owner, 0) == 0) continue;
      RunProcess({"/bin/sh", "-c", "ip link del " + name + "; for n in $(ip netns list | awk '/^sns" +
                                       std::to_string(owner) + "_/{print $1}'); do ip netns del $n; done"});
    }
  }

  ~NetnsCluster() {
    for (const std::string& ns : namespaces_) RunProcess({"/bin/sh", "-c", "ip netns del " + ns});
    if (!bridge_.empty()) RunProcess({"/bin/sh", "-c", "ip link del " + bridge_});
  }
  const ClusterLayout& layout() const { return layout_; }
  // Cuts (or restores) worker i's only link, as a pulled cable would: no reset is sent.
  bool SetLink(int i, bool up) {
    return RunProcess({"/bin/sh", "-c", "ip link set " + host_ends_[static_cast<size_t>(i)] +
                                            (up ? " up" : " down")})
               .exit_code == 0;
  }

 private:
  std::string bridge_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> host_ends_;  // the bridge's end of each namespace's veth
  ClusterLayout layout_;
};

TEST_F(ClusterTest, ThreeWorkersInThreeNetworkNamespacesGiveTheSameIds) {
  NetnsCluster net;
  std::string why;
  ASSERT_TRUE(net.Create(&why))
      << "cannot create network namespaces here (needs root and iproute2): " << why;
  const std::string prompt = ReferenceCases()[1].prompt;
  const std::vector<int32_t> single = GenerateIds(prompt);
  TestCluster cluster(net.layout());
  ASSERT_TRUE(cluster.WaitReady(kReady));
  auto [status, body] = cluster.Complete(Greedy(prompt));
  ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(Ids(body), single);
}

TEST_F(ClusterTest, ACutLinkFailsTheRequestWithinTheBoundAndTheClusterHealsWhenItIsBack) {
  NetnsCluster net;
  std::string why;
  ASSERT_TRUE(net.Create(&why))
      << "cannot create network namespaces here (needs root and iproute2): " << why;
  const std::string prompt = ReferenceCases()[1].prompt;
  ClusterLayout layout = net.layout();
  layout.coordinator_args = {"--no-recover"};  // fail within the bound, not resume
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  auto [first_status, first] = cluster.Complete(Greedy(prompt));
  ASSERT_EQ(first_status, 200) << first.dump() << "\n" << cluster.Logs();

  json long_request = Greedy(prompt);
  long_request["max_tokens"] = kLongTokens;  // still running when the link goes
  const auto start = std::chrono::steady_clock::now();
  std::future<std::pair<int, json>> pending =
      std::async(std::launch::async, [&] { return cluster.Complete(long_request); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(net.SetLink(1, false));
  // Lost by missed heartbeats (5 s) or the control stream's keepalive (2 s + 3 s).
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(12)), std::future_status::ready)
      << cluster.Logs();
  auto [status, body] = pending.get();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(12));
  EXPECT_EQ(status, 503) << body.dump();
  EXPECT_NE(cluster.ClusterState().value("status", ""), "ready");

  ASSERT_TRUE(net.SetLink(1, true));
  ASSERT_TRUE(Eventually([&] { return cluster.ClusterState().value("status", "") == "ready"; },
                         std::chrono::seconds(60)))
      << cluster.Logs();
  auto [again_status, again] = cluster.Complete(Greedy(prompt));
  ASSERT_EQ(again_status, 200) << again.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(Ids(again), Ids(first));
}

}  // namespace
}  // namespace strata::testing
