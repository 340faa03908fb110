// WorkerSupervisor (see worker_supervisor.h).
#include "cli/cluster/worker_supervisor.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace strata::cli {
namespace {

// `line` on stderr and at the end of the worker's log, both prefixed by who says it.
void Report(const std::string& log_path, const std::string& line) {
  const std::string text = "strata cluster: " + line + "\n";
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return;  // stderr has it; the next start names the log file if it is unusable
  if (::write(log, text.data(), text.size()) < 0) {
    // As above: stderr has it.
  }
  ::close(log);
}

std::string Seconds(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(d.count()) / 1000);
  return text;
}

}  // namespace

Status WorkerSupervisor::Start(const std::string& name, const std::vector<std::string>& argv,
                               const std::string& log_path) {
  STRATA_ASSIGN_OR_RETURN(ChildProcess process, ChildProcess::Start(argv, log_path));
  workers_.push_back(Worker{name, argv, log_path, RestartPolicy(limits_), std::nullopt, std::nullopt});
  workers_.back().process.emplace(std::move(process));
  return OkStatus();
}

void WorkerSupervisor::Supervise(Clock::time_point now) {
  for (Worker& w : workers_) {
    if (w.restart_at && now >= *w.restart_at) {
      Restart(w, now);
    } else if (w.process && !w.process->Running()) {
      const std::string how = w.process->exit_description();
      w.process.reset();
      Exited(w, how, now);
    }
  }
}

void WorkerSupervisor::Exited(Worker& w, const std::string& how, Clock::time_point now) {
  const std::optional<std::chrono::milliseconds> delay = w.policy.OnExit(now);
  const RestartLimits& l = w.policy.limits();
  if (!delay) {
    Report(w.log_path, w.name + " " + how + "; not restarting it: it was restarted " +
                           std::to_string(l.max_restarts) + " times within " + Seconds(l.window) +
                           " already (--max-restarts). The cluster does not serve until a worker "
                           "named " + w.name + " registers; see " + w.log_path +
                           ", then restart the cluster (`strata cluster down`, `strata cluster up`)");
    return;
  }
  w.restart_at = now + *delay;
  Report(w.log_path, w.name + " " + how + "; restarting it in " + Seconds(*delay) + " (restart " +
                         std::to_string(w.policy.recent_restarts()) + " of at most " +
                         std::to_string(l.max_restarts) + " within " + Seconds(l.window) + ")");
}

void WorkerSupervisor::Restart(Worker& w, Clock::time_point now) {
  w.restart_at.reset();
  StatusOr<ChildProcess> process = ChildProcess::Start(w.argv, w.log_path);
  if (!process.ok()) {
    Exited(w, "could not be started again (" + process.status().message() + ")", now);
    return;
  }
  w.process.emplace(std::move(process).value());
  Report(w.log_path, w.name + " restarted (pid " + std::to_string(w.process->pid()) + ")");
}

ChildProcess* WorkerSupervisor::FirstExited() {
  for (Worker& w : workers_) {
    if (w.process && !w.process->Running()) return &*w.process;
  }
  return nullptr;
}

std::vector<ChildProcess*> WorkerSupervisor::processes() {
  std::vector<ChildProcess*> all;
  for (Worker& w : workers_) {
    if (w.process) all.push_back(&*w.process);
  }
  return all;
}

}  // namespace strata::cli
