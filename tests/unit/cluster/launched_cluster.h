// `strata cluster up` run as a user runs it, for tests of the launcher: the CLI started with a
// free API port and a run directory of its own (its output in up.log beside it), with helpers
// to wait until it serves, to post completions, to find the processes it started (by their
// command lines under /proc) and to stop it with `strata cluster down`.
// Thread-safety: one thread starts and stops it; Complete may run concurrently.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/run_process.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {

class LaunchedCluster {
 public:
  // `cluster up --workers 2` on the fixture's pack, plus `flags`.
  explicit LaunchedCluster(const std::vector<std::string>& flags = {})
      : dir_("launched"), port_(FreeTcpPort()) {
    std::vector<std::string> argv = {STRATA_CLI_PATH, "cluster", "up", "--model", FixturePackDir(),
                                     "--workers", "2", "--http", std::to_string(port_),
                                     "--run-dir", run_dir()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    StatusOr<cli::ChildProcess> up = cli::ChildProcess::Start(argv, dir_.File("up.log"));
    EXPECT_TRUE(up.ok()) << up.status().ToString();
    if (up.ok()) launcher_.emplace(std::move(up).value());
  }
  // A launcher still running is stopped as `cluster down` stops it.
  ~LaunchedCluster() {
    if (launcher_) launcher_->Stop(cli::kLauncherStopTimeout);
  }

  // True once the launcher printed that the cluster is ready (from then on it supervises);
  // false when it exits first or after `timeout`.
  bool WaitReady(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (launcher_ && launcher_->Running() && std::chrono::steady_clock::now() < deadline) {
      if (up_log().find("strata cluster: ready with") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "the cluster did not get ready\n" << Logs();
    return false;
  }
  // GET /ready's status; 0 without an answer.
  int ReadyStatus() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::seconds(1));
    httplib::Result r = client.Get("/ready");
    return r ? r->status : 0;
  }
  std::pair<int, nlohmann::json> Complete(const nlohmann::json& request) const {
    return PostCompletion(port_, request);
  }
  // A number of GET /v1/cluster (`open_sequences`, ...); -1 if absent.
  int64_t Field(const char* name) const {
    httplib::Client client("127.0.0.1", port_);
    httplib::Result r = client.Get("/v1/cluster");
    const nlohmann::json state =
        r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
    return state.is_object() && state.contains(name) ? state[name].get<int64_t>() : -1;
  }

  // The launcher's child whose command line has the argument `arg` ("worker-1", or the
  // coordinator's "--control"), or -1.
  pid_t Child(const std::string& arg) const {
    DIR* proc = ::opendir("/proc");
    pid_t found = -1;
    for (dirent* e; found < 0 && proc != nullptr && (e = ::readdir(proc)) != nullptr;) {
      const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0 || ParentOf(pid) != launcher_->pid()) continue;
      const std::string cmdline = ReadAll("/proc/" + std::to_string(pid) + "/cmdline");
      if (cmdline.find(std::string(1, '\0') + arg + '\0') != std::string::npos) found = pid;
    }
    if (proc != nullptr) ::closedir(proc);
    return found;
  }

  // `strata cluster down` for this run directory.
  ProcessResult Down() const {
    return RunProcess({STRATA_CLI_PATH, "cluster", "down", "--run-dir", run_dir()});
  }

  cli::ChildProcess& launcher() { return *launcher_; }
  std::string run_dir() const { return dir_.File("run"); }
  std::string up_log() const { return ReadAll(dir_.File("up.log")); }
  std::string Logs() const {
    std::string all = "--- up.log\n" + cli::LogTail(dir_.File("up.log"), 40);
    for (const char* log : {"coordinator.log", "worker-0.log", "worker-1.log"}) {
      all += std::string("--- ") + log + "\n" + cli::LogTail(run_dir() + "/" + log, 30);
    }
    return all;
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  // The parent's pid from /proc/PID/stat (after the name in parentheses: state, then ppid).
  static pid_t ParentOf(pid_t pid) {
    const std::string stat = ReadAll("/proc/" + std::to_string(pid) + "/stat");
    const size_t end = stat.rfind(')');
    if (end == std::string::npos || end + 4 >= stat.size()) return -1;
    return static_cast<pid_t>(std::atoi(stat.c_str() + end + 4));
  }

  TempDir dir_;
  int port_;
  std::optional<cli::ChildProcess> launcher_;
};

}  // namespace strata::testing
