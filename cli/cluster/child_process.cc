// ChildProcess (see child_process.h).
#include "cli/cluster/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace strata::cli {

StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                           const std::string& log_path) {
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return Internal("cannot open log file " + log_path + ": " + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, log, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // whatever the calling thread blocks
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(log);
  if (err != 0) return Internal("cannot start " + argv[0] + ": " + std::strerror(err));
  return ChildProcess(pid, std::filesystem::path(argv[0]).filename().string(), log_path);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      name_(std::move(other.name_)),
      log_path_(std::move(other.log_path_)),
      wait_status_(other.wait_status_),
      exited_(other.exited_),
      terminated_(other.terminated_) {
  other.pid_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(std::chrono::seconds(5));
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exited_) return false;
  const pid_t r = ::waitpid(pid_, &wait_status_, WNOHANG);
  if (r == pid_) exited_ = true;
  return !exited_;
}

std::string ChildProcess::exit_description() const {
  if (!exited_) return "running";
  if (WIFEXITED(wait_status_)) return "exited with code " + std::to_string(WEXITSTATUS(wait_status_));
  if (WIFSIGNALED(wait_status_)) return "killed by signal " + std::to_string(WTERMSIG(wait_status_));
  return "stopped";
}

int ChildProcess::exit_code() const {
  if (WIFEXITED(wait_status_)) return WEXITSTATUS(wait_status_);
  if (WIFSIGNALED(wait_status_)) return 128 + WTERMSIG(wait_status_);
  return 1;
}

void ChildProcess::Signal(int signal) {
  if (Running()) ::kill(pid_, signal);
}

void ChildProcess::Terminate() {
  if (terminated_) return;
  Signal(SIGTERM);
  terminated_ = true;
}

void ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return;
  if (Running()) {
    Terminate();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (Running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (Running()) {
      ::kill(pid_, SIGKILL);
      if (::waitpid(pid_, &wait_status_, 0) == pid_) exited_ = true;
    }
  }
  pid_ = -1;
}

void StopTogether(const std::vector<ChildProcess*>& children, std::chrono::milliseconds grace) {
  for (ChildProcess* c : children) c->Terminate();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (ChildProcess* c : children) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    c->Stop(std::max(left, std::chrono::milliseconds(0)));
  }
}

std::string LogTail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += "  " + l + "\n";
  return out;
}

}  // namespace strata::cli
