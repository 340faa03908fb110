// `strata cluster up` / `down` as a user runs them: a 2-worker cluster on the fixture comes up,
// answers a completion and stops cleanly on `cluster down`; a cluster whose every plan fails
// to load (the nccl transport on CPU workers) stops with the workers' reason instead of
// waiting out its ready timeout; a launcher killed outright takes its children with it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <iterator>

#include "tests/support/run_process.h"
#include "tests/unit/cluster/cluster_harness.h"
#include "tests/unit/cluster/launched_cluster.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class LauncherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { setenv("UCX_TLS", "tcp", 1); }
};

TEST_F(LauncherTest, UpServesAndDownStopsEverything) {
  TempDir dir("launcher");
  const int port = FreeTcpPort();
  StatusOr<cli::ChildProcess> up = cli::ChildProcess::Start(
      {STRATA_CLI_PATH, "cluster", "up", "--model", FixturePackDir(), "--workers", "2", "--http",
       std::to_string(port), "--run-dir", dir.File("run")},
      dir.File("up.log"));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  httplib::Client client("127.0.0.1", port);
  // httplib's 5 s read timeout would make this a timed test: under CI's parallel load (two
  // cores, other clusters starting) a first completion was seen to take longer.
  client.set_read_timeout(60, 0);
  bool ready = false;
  for (auto deadline = std::chrono::steady_clock::now() + 120s;
       !ready && up->Running() && std::chrono::steady_clock::now() < deadline;) {
    httplib::Result r = client.Get("/ready");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(ready) << cli::LogTail(dir.File("up.log"), 20);
  // The launcher sees the cluster ready on its own poll, which can come after ours: a `down`
  // before it is an interrupted start-up (exit 1), not the stop this test is about.
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       cli::LogTail(dir.File("up.log"), 20).find("cluster: ready with") == std::string::npos;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << cli::LogTail(dir.File("up.log"), 20);
    std::this_thread::sleep_for(50ms);
  }
  httplib::Result done = client.Post(
      "/v1/completions", R"({"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0})",
      "application/json");
  ASSERT_TRUE(done) << "no answer to /v1/completions (" << httplib::to_string(done.error())
                    << ")\n" << cli::LogTail(dir.File("up.log"), 20) << "\ncoordinator:\n"
                    << cli::LogTail(dir.File("run") + "/coordinator.log", 30) << "\nworker 0:\n"
                    << cli::LogTail(dir.File("run") + "/worker-0.log", 30) << "\nworker 1:\n"
                    << cli::LogTail(dir.File("run") + "/worker-1.log", 30);
  EXPECT_EQ(done->status, 200) << done->body;

  // `down` waits for the launcher to be gone; this process reaps it meanwhile.
  std::future<ProcessResult> down = std::async(std::launch::async, [&dir] {
    return RunProcess({STRATA_CLI_PATH, "cluster", "down", "--run-dir", dir.File("run")});
  });
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       up->Running() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(100ms);
  }
  const ProcessResult stopped = down.get();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_EQ(up->exit_description(), "exited with code 0");
  // The coordinator was stopped by its signal, through its drain (the launcher reaps every
  // child before it exits). Not checked through its port: parallel tests may bind the freed
  // port at once.
  std::ifstream log(dir.File("run") + "/coordinator.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("drain ended"));
}

// Whether `pid` is gone: no such process, or a zombie waiting for a reaper that is not us.
bool Gone(pid_t pid) {
  const std::string stat = LaunchedCluster::ReadAll("/proc/" + std::to_string(pid) + "/stat");
  const size_t end = stat.rfind(')');
  return end == std::string::npos || (end + 2 < stat.size() && stat[end + 2] == 'Z');
}

// SIGKILL runs no handler, so the launcher cannot stop its children itself: each was started
// with --parent-pid and takes the launcher's death as a SIGTERM (before this, they ran on,
// workers waiting for a coordinator that waited for them).
TEST_F(LauncherTest, ASigkilledLauncherTakesItsChildrenWithIt) {
  LaunchedCluster cluster;
  ASSERT_TRUE(cluster.WaitReady(120s));
  const pid_t children[] = {cluster.Child("--control"), cluster.Child("worker-0"),
                            cluster.Child("worker-1")};
  for (pid_t pid : children) ASSERT_GT(pid, 0) << cluster.Logs();
  cluster.launcher().Signal(SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto all_gone = [&] { return std::all_of(std::begin(children), std::end(children), Gone); };
  while (!all_gone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  if (all_gone()) return;  // (checked once: a pid freed long ago may be another's by now)
  for (pid_t pid : children) {
    EXPECT_TRUE(Gone(pid)) << "pid " << pid << " outlived its launcher\n" << cluster.Logs();
    if (!Gone(pid)) ::kill(pid, SIGKILL);
  }
}

// A --parent-pid that is not the process's parent (it exited before the child could ask for
// its signal) stops the child at once with the reason; a pid of 1 or less is refused. (The
// worker checks before it reads anything; the coordinator shares the check, StopWithParent.)
TEST_F(LauncherTest, AWorkerWhoseParentPidIsNotItsParentStopsAtOnce) {
  const std::string not_parent = std::to_string(::getppid());  // our parent, not its
  for (const std::string& pid : {not_parent, std::string("1")}) {
    const ProcessResult r = RunProcess({STRATA_WORKER_PATH, "--model", "/nonexistent",
                                        "--token-file", "/nonexistent", "--parent-pid", pid});
    EXPECT_EQ(r.exit_code, 1) << pid << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(pid == "1" ? "--parent-pid must be a process id above 1"
                                            : "(pid " + pid + ", --parent-pid) has exited"));
  }
}

TEST_F(LauncherTest, AClusterWhoseEveryPlanFailsStopsWithTheReason) {
  TempDir dir("launcher");
  ProcessResult r = RunProcess({STRATA_CLI_PATH, "cluster", "up", "--model", FixturePackDir(),
                                "--workers", "2", "--transport", "nccl", "--http",
                                std::to_string(FreeTcpPort()), "--run-dir", dir.File("run")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("the cluster cannot start"));
  EXPECT_THAT(r.err, HasSubstr("assignment failed"));
  EXPECT_THAT(r.err, HasSubstr("--transport ucx"));  // what to do instead
}

}  // namespace
}  // namespace strata::testing
