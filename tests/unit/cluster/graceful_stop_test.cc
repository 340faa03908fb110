// Stopping gracefully with real processes (2 CPU workers on the tiny fixture, UCX over TCP):
// SIGTERM to the coordinator drains it (new requests 503 with Retry-After, /ready 503, the
// running generation completes with the ids it gets alone, then the workers and the
// coordinator exit 0); with a tiny --drain-timeout-s the running request fails with 503 and
// everything still exits 0 at once; SIGTERM to a worker mid-generation lets the generation
// finish, the worker exits 0, and the request queued behind it (one KV slot) runs once a new
// process under the worker's name has registered. Both refuse a drain timeout out of range.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <future>

#include "tests/support/eventually.h"
#include "tests/support/run_process.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReady = 120s;

json Greedy(const std::string& prompt, int max_tokens) {
  return {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0},
          {"return_token_ids", true}};
}

std::vector<int32_t> Ids(const json& body) {
  return body["choices"][0]["token_ids"].get<std::vector<int32_t>>();
}

// Waits until `child` exits; its exit description, or "running" after `timeout`.
std::string ExitOf(cli::ChildProcess& child, std::chrono::milliseconds timeout) {
  Eventually([&] { return !child.Running(); }, timeout);
  return child.exit_description();
}

// Every process of `cluster` exits with code 0 within `timeout` each.
void ExpectAllExitCleanly(TestCluster& cluster, std::chrono::milliseconds timeout) {
  for (cli::ChildProcess& child : cluster.children()) {
    EXPECT_EQ(ExitOf(child, timeout), "exited with code 0") << child.name() << "\n" << cluster.Logs();
  }
}

class GracefulStopTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("UCX_TLS", "tcp", 1); }
};

TEST_F(GracefulStopTest, SigtermDrainsTheCoordinatorAndTheRunningRequestCompletes) {
  ClusterLayout layout;
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  const json request = Greedy("The capital of France is", kLongTokens);
  const auto [alone_status, alone] = cluster.Complete(request);
  ASSERT_EQ(alone_status, 200) << alone.dump();

  auto running = std::async(std::launch::async, [&] { return cluster.Complete(request); });
  ASSERT_TRUE(Eventually([&] { return cluster.Field("open_sequences") == 1; }, 10s));
  const auto signalled = Clock::now();
  ::kill(cluster.children()[0].pid(), SIGTERM);

  httplib::Client client("127.0.0.1", cluster.http_port());
  std::string ready_body;
  ASSERT_TRUE(Eventually([&] {
    const httplib::Result ready = client.Get("/ready");
    if (ready) ready_body = ready->body;
    return ready && ready->status == 503;
  }, 5s)) << cluster.Logs();
  EXPECT_THAT(ready_body, HasSubstr("draining"));
  const httplib::Result refused =
      client.Post("/v1/completions", Greedy("Too late", 4).dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_FALSE(refused->get_header_value("Retry-After").empty());
  EXPECT_THAT(refused->body, HasSubstr("draining"));
  EXPECT_EQ(client.Get("/health")->status, 200);
  EXPECT_EQ(running.wait_for(0s), std::future_status::timeout)
      << "the generation finished before the checks; make it longer";

  const auto [status, body] = running.get();
  ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(Ids(body), Ids(alone));
  ExpectAllExitCleanly(cluster, 10s);
  std::printf("drained and stopped %.2f s after SIGTERM\n",
              std::chrono::duration<double>(Clock::now() - signalled).count());
}

TEST_F(GracefulStopTest, ATinyDrainTimeoutFailsTheRunningRequestWith503AndStillExitsAtOnce) {
  ClusterLayout layout;
  layout.coordinator_args = {"--drain-timeout-s", "0.05"};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  auto running = std::async(std::launch::async, [&] {
    return cluster.Complete(Greedy("The capital of France is", kLongTokens));
  });
  ASSERT_TRUE(Eventually([&] { return cluster.Field("open_sequences") == 1; }, 10s));
  const auto signalled = Clock::now();
  ::kill(cluster.children()[0].pid(), SIGTERM);
  const auto [status, body] = running.get();
  EXPECT_EQ(status, 503) << body.dump() << "\n" << cluster.Logs();
  EXPECT_THAT(body.dump(), HasSubstr("drain timeout"));
  ExpectAllExitCleanly(cluster, 5s);
  EXPECT_LT(Clock::now() - signalled, 5s);
}

TEST_F(GracefulStopTest, AWorkerSigtermFinishesItsGenerationAndTheQueuedRequestRunsOnItsReturn) {
  ClusterLayout layout;
  layout.kv_slots = 1;
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(kReady));
  const json first = Greedy("The capital of France is", kLongTokens);
  const json second = Greedy("Water boils at", 12);
  const auto [first_status, first_alone] = cluster.Complete(first);
  ASSERT_EQ(first_status, 200) << first_alone.dump();
  const auto [second_status, second_alone] = cluster.Complete(second);
  ASSERT_EQ(second_status, 200) << second_alone.dump();

  auto running = std::async(std::launch::async, [&] { return cluster.Complete(first); });
  ASSERT_TRUE(Eventually([&] { return cluster.Field("open_sequences") == 1; }, 10s));
  auto queued = std::async(std::launch::async, [&] { return cluster.Complete(second); });
  ASSERT_TRUE(Eventually([&] { return cluster.Field("queued_requests") == 1; }, 10s));
  cli::ChildProcess& leaving = cluster.children()[2];  // worker-1, the last stage
  ::kill(leaving.pid(), SIGTERM);
  ASSERT_TRUE(Eventually([&] { return cluster.ClusterState().contains("leaving"); }, 5s))
      << cluster.Logs();
  EXPECT_EQ(running.wait_for(0s), std::future_status::timeout)
      << "the generation finished before the worker's Leaving; make it longer";

  const auto [status, body] = running.get();
  ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(Ids(body), Ids(first_alone));
  EXPECT_EQ(ExitOf(leaving, 10s), "exited with code 0") << cluster.Logs();
  json state;
  ASSERT_TRUE(Eventually([&] {
    state = cluster.ClusterState();
    return state.value("state", "") == "waiting_for_workers";
  }, 5s)) << state.dump();
  EXPECT_EQ(state["queued_requests"], 1) << state.dump();
  EXPECT_EQ(queued.wait_for(0s), std::future_status::timeout);

  cluster.StartWorker(1);
  const auto [queued_status, queued_body] = queued.get();
  ASSERT_EQ(queued_status, 200) << queued_body.dump() << "\n" << cluster.Logs();
  EXPECT_EQ(Ids(queued_body), Ids(second_alone));
  EXPECT_TRUE(cluster.children()[1].Running());  // worker-0 served on
}

TEST_F(GracefulStopTest, BothBinariesRefuseADrainTimeoutOutOfRange) {
  TempDir dir("drain_flag");
  const std::string token = dir.File("token");
  std::FILE* f = std::fopen(token.c_str(), "w");
  std::fputs("test-cluster-token\n", f);
  std::fclose(f);
  for (const char* binary : {STRATA_COORDINATOR_PATH, STRATA_WORKER_PATH}) {
    for (const char* bad : {"-1", "3601", "nan"}) {
      const ProcessResult r = RunProcess({binary, "--model", FixturePackDir(), "--token-file", token,
                                          "--drain-timeout-s", bad});
      EXPECT_EQ(r.exit_code, 1) << binary << " " << bad << "\n" << r.err;
      EXPECT_THAT(r.err, HasSubstr("--drain-timeout-s must be from 0 to 3600 seconds"))
          << binary << " " << bad;
    }
  }
}

}  // namespace
}  // namespace strata::testing
