// SIGINT and SIGTERM for a process that stops in stages (first signal: drain or leave; second
// signal or a timeout: stop now). A handler installed for both writes the signal's number to
// a pipe, and one thread takes them in order with Next. A handler rather than a blocked mask
// and sigwait: libraries start threads before main (OpenBLAS's pool, in a load-time
// constructor) whose mask main cannot block, so a process-directed signal could land on one
// and take its default action, ending the process at once. The handler runs on whichever
// thread the signal lands and only writes one byte.
// StopWithParent makes the exit of the process that started this one a SIGTERM, so children
// of a launcher that is killed outright stop instead of running on, orphaned.
// Thread-safety: one StopSignals per process; Next from one thread, Wake from any.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>

#include "common/util/status.h"

namespace strata::cluster {

class StopSignals {
 public:
  // Installs the handlers (SA_RESTART); kFailedPrecondition if a StopSignals exists already.
  static StatusOr<std::unique_ptr<StopSignals>> Install();
  ~StopSignals();  // restores the default actions
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Waits for the next signal, at most `timeout` (none: no bound). Returns its number, or 0
  // when the timeout passed or Wake was called.
  int Next(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Makes Next return 0 now, or at its next call (the process stops on its own).
  void Wake();

 private:
  StopSignals(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  const int read_fd_;
  const int write_fd_;
};

// From now on, SIGTERM to this process when its parent `parent` exits (Linux: the thread that
// started this process; a launcher starts its children from its main thread). `parent` is
// the pid the launcher passed, so that one which exited before this call is noticed:
// kFailedPrecondition then. Call after StopSignals::Install, so the signal drains as a
// user's would.
Status StopWithParent(pid_t parent);
inline constexpr const char* kParentPidHelp =
    "Stop (as on SIGTERM) when process PID, the one that started this, exits; "
    "`strata cluster up` passes its own so no child outlives it";

}  // namespace strata::cluster
