// The worker processes of `strata cluster up`, kept running: once the cluster serves, a worker
// that exits for any reason (a crash, kill -9, a leave) is started again with the same command
// line, so under the same --name, and its log appended to, after the backoff of its
// RestartPolicy; the coordinator re-plans when it registers. Each exit, restart and the
// decision to give up (restarts used up) is reported on stderr and in the worker's log; a
// worker given up on stays down and the rest run on (the coordinator is not ready without it).
// Thread-safety: one thread (the launcher's) owns a WorkerSupervisor.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cli/cluster/child_process.h"
#include "cli/cluster/restart_policy.h"
#include "common/util/status.h"

namespace strata::cli {

class WorkerSupervisor {
 public:
  using Clock = std::chrono::steady_clock;
  explicit WorkerSupervisor(RestartLimits limits) : limits_(limits) {}

  // Starts a worker named `name` (its --name) with `argv`, its output appended to `log_path`.
  // Errors: ChildProcess::Start's.
  Status Start(const std::string& name, const std::vector<std::string>& argv,
               const std::string& log_path);
  // Restarts what needs it at `now`: a worker that exited is reported and scheduled after its
  // backoff (or given up on); one whose backoff passed is started again. Call it often (the
  // backoff is only as precise as the calls).
  void Supervise(Clock::time_point now);
  // A worker that exited (before the cluster serves, when nothing is restarted), or null.
  ChildProcess* FirstExited();
  // The processes started and not reaped yet, to stop them.
  std::vector<ChildProcess*> processes();

 private:
  struct Worker {
    std::string name;
    std::vector<std::string> argv;
    std::string log_path;
    RestartPolicy policy;
    std::optional<ChildProcess> process;  // none while a restart waits or after giving up
    std::optional<Clock::time_point> restart_at;
  };
  void Exited(Worker& w, const std::string& how, Clock::time_point now);
  void Restart(Worker& w, Clock::time_point now);

  const RestartLimits limits_;
  std::vector<Worker> workers_;
};

}  // namespace strata::cli
