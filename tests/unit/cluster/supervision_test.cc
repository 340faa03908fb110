// `strata cluster up` supervising what it started, with real processes (2 CPU workers on the
// tiny fixture, UCX over TCP): a worker killed with SIGKILL mid-generation of 4 concurrent
// requests is restarted by the launcher and the cluster serves again by itself (the requests
// in flight end within a bound; new ones get their fault-free greedy ids); a worker out of
// restarts (--max-restarts 0) stays down while the rest run on, not ready, until `cluster
// down`; a killed coordinator makes the launcher stop the workers and exit with 128 + 9.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <future>

#include "tests/support/eventually.h"
#include "tests/unit/cluster/launched_cluster.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReady = 120s;
// The bounds this file asserts: requests in flight at a worker's death end (resumed on the
// restarted worker, or failed), the cluster serves again, the launcher stops everything.
constexpr auto kInFlightEnd = 20s;
constexpr auto kServesAgain = 20s;
constexpr auto kStopped = 20s;

// A greedy request over reference prompt `prompt` modulo 3 (the cases with a text prompt).
json Greedy(size_t prompt, int max_tokens) {
  return {{"prompt", ReferenceCases()[prompt % 3].prompt},
          {"max_tokens", max_tokens}, {"temperature", 0}, {"return_token_ids", true}};
}

std::vector<int32_t> Ids(const json& body) {
  return body["choices"][0]["token_ids"].get<std::vector<int32_t>>();
}

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool Gone(pid_t pid) { return ::kill(pid, 0) != 0; }

class SupervisionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("UCX_TLS", "tcp", 1); }
};

TEST_F(SupervisionTest, AWorkerKilledMidGenerationIsRestartedAndTheClusterHealsByItself) {
  LaunchedCluster cluster;
  ASSERT_TRUE(cluster.WaitReady(kReady));
  std::vector<json> requests;
  std::vector<std::vector<int32_t>> alone;
  for (size_t i = 0; i < 4; ++i) {
    requests.push_back(Greedy(i, 120 + 20 * static_cast<int>(i)));
    const auto [status, body] = cluster.Complete(requests.back());
    ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
    alone.push_back(Ids(body));
  }
  std::vector<std::future<std::pair<int, json>>> in_flight;
  for (const json& r : requests) {
    in_flight.push_back(std::async(std::launch::async, [&cluster, r] { return cluster.Complete(r); }));
  }
  ASSERT_TRUE(Eventually([&] { return cluster.Field("open_sequences") >= 2; }, 10s)) << cluster.Logs();
  const pid_t killed = cluster.Child("worker-1");
  ASSERT_GT(killed, 0) << cluster.Logs();
  ::kill(killed, SIGKILL);
  const auto kill_time = Clock::now();

  // In flight: resumed on the restarted worker (the coordinator's --recover, its default) with
  // the fault-free ids, or failed with an error body; never left hanging.
  int resumed = 0;
  for (size_t i = 0; i < in_flight.size(); ++i) {
    ASSERT_EQ(in_flight[i].wait_until(kill_time + kInFlightEnd), std::future_status::ready)
        << "request " << i << " still running " << SecondsSince(kill_time) << " s after the kill\n"
        << cluster.Logs();
    const auto [status, body] = in_flight[i].get();
    if (status == 200) {
      EXPECT_EQ(Ids(body), alone[i]) << "request " << i;
      ++resumed;
    } else {
      EXPECT_GE(status, 500) << body.dump();
      EXPECT_TRUE(body.contains("error")) << body.dump();
    }
  }
  const double in_flight_s = SecondsSince(kill_time);
  ASSERT_TRUE(Eventually([&] { return cluster.ReadyStatus() == 200; },
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             kill_time + kServesAgain - Clock::now())))
      << cluster.Logs();
  const double ready_s = SecondsSince(kill_time);
  const pid_t restarted = cluster.Child("worker-1");
  EXPECT_GT(restarted, 0);
  EXPECT_NE(restarted, killed);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto [status, body] = cluster.Complete(requests[i]);
    ASSERT_EQ(status, 200) << body.dump() << "\n" << cluster.Logs();
    EXPECT_EQ(Ids(body), alone[i]) << "request " << i;
  }
  EXPECT_THAT(cluster.up_log(), HasSubstr("worker-1 killed by signal 9; restarting it in 0.5 s"));
  const std::string worker_log = LaunchedCluster::ReadAll(cluster.run_dir() + "/worker-1.log");
  EXPECT_THAT(worker_log, HasSubstr("strata cluster: worker-1 restarted (pid " +
                                    std::to_string(restarted) + ")"));
  std::printf("in-flight requests ended %.2f s after the kill (%d of 4 resumed with their ids), "
              "ready again after %.2f s\n", in_flight_s, resumed, ready_s);
}

TEST_F(SupervisionTest, AWorkerOutOfRestartsStaysDownTheRestRunOnAndDownStopsThem) {
  LaunchedCluster cluster({"--max-restarts", "0"});
  ASSERT_TRUE(cluster.WaitReady(kReady));
  const pid_t coordinator = cluster.Child("--control");
  const pid_t survivor = cluster.Child("worker-1");
  ::kill(cluster.Child("worker-0"), SIGKILL);
  ASSERT_TRUE(Eventually([&] { return cluster.up_log().find("not restarting it") != std::string::npos; },
                         10s)) << cluster.Logs();
  EXPECT_THAT(cluster.up_log(), HasSubstr("worker-0 killed by signal 9; not restarting it"));
  ASSERT_TRUE(Eventually([&] { return cluster.ReadyStatus() == 503; }, 10s)) << cluster.Logs();
  EXPECT_TRUE(cluster.launcher().Running());
  EXPECT_FALSE(Gone(coordinator));
  EXPECT_FALSE(Gone(survivor));
  EXPECT_EQ(cluster.Child("worker-0"), -1);

  const auto down_time = Clock::now();
  const ProcessResult down = cluster.Down();
  EXPECT_EQ(down.exit_code, 0) << down.err;
  ASSERT_TRUE(Eventually([&] { return !cluster.launcher().Running(); }, kStopped)) << cluster.Logs();
  EXPECT_LT(Clock::now() - down_time, kStopped);
  EXPECT_EQ(cluster.launcher().exit_description(), "exited with code 0") << cluster.Logs();
  EXPECT_TRUE(Gone(coordinator));
  EXPECT_TRUE(Gone(survivor));
  std::printf("`cluster down` stopped everything in %.2f s\n", SecondsSince(down_time));
}

TEST_F(SupervisionTest, AKilledCoordinatorStopsTheWorkersAndTheLauncherExitsWithItsStatus) {
  LaunchedCluster cluster;
  ASSERT_TRUE(cluster.WaitReady(kReady));
  const std::vector<pid_t> workers = {cluster.Child("worker-0"), cluster.Child("worker-1")};
  ::kill(cluster.Child("--control"), SIGKILL);
  const auto kill_time = Clock::now();
  ASSERT_TRUE(Eventually([&] { return !cluster.launcher().Running(); }, kStopped)) << cluster.Logs();
  EXPECT_EQ(cluster.launcher().exit_description(), "exited with code 137");
  for (pid_t w : workers) EXPECT_TRUE(w > 0 && Gone(w)) << w;
  EXPECT_THAT(cluster.up_log(), HasSubstr("the coordinator killed by signal 9; stopping the workers"));
  std::printf("the launcher stopped the workers and exited %.2f s after the coordinator died\n",
              SecondsSince(kill_time));
}

}  // namespace
}  // namespace strata::testing
