// SIGINT and SIGTERM for a process that stops in stages (first signal: drain or leave; second
// signal or a timeout: stop now). A handler installed for both writes the signal's number to
// a pipe, and one thread takes them in order with Next. A handler rather than a blocked mask
// and sigwait: libraries start threads before main (OpenBLAS's pool, in a load-time
// constructor) whose mask main cannot block, so a process-directed signal could land on one
// and take its default action, ending the process at once. The handler runs on whichever
// thread the signal lands and only writes one byte.
// Thread-safety: one StopSignals per process; Next from one thread, Wake from any.
#pragma once

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

}  // namespace strata::cluster
