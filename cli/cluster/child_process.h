// A child process of the local cluster launcher: started with its stdout and stderr appended
// to a log file, in its own process group so a terminal's Ctrl-C reaches only the launcher,
// which then stops the children itself (SIGTERM, then SIGKILL after a grace period). Children
// start with no signal blocked, whatever the starting thread blocks.
// Thread-safety: one thread owns a ChildProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace strata::cli {

class ChildProcess {
 public:
  // argv[0] is the program path. Errors: the program or log file cannot be opened (the
  // message names which).
  static StatusOr<ChildProcess> Start(const std::vector<std::string>& argv,
                                      const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();  // stops the process if it still runs

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  // False once it exited (then exit_description() says how).
  bool Running();
  std::string exit_description() const;
  // Once it exited: its exit code, or 128 + the signal that killed it (the shell's convention).
  int exit_code() const;
  // Sends `signal` if it runs.
  void Signal(int signal);
  // Sends SIGTERM once if it runs (a second SIGTERM means "stop now" to Strata's binaries).
  void Terminate();
  // Terminate, up to `grace` to exit, then SIGKILL; reaps it.
  void Stop(std::chrono::milliseconds grace);

 private:
  ChildProcess(pid_t pid, std::string name, std::string log_path)
      : pid_(pid), name_(std::move(name)), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  std::string name_;
  std::string log_path_;
  int wait_status_ = 0;
  bool exited_ = false;
  bool terminated_ = false;  // SIGTERM sent
};

// Stops `children` together: SIGTERM to all, up to `grace` in all for them to exit, then
// SIGKILL to the rest; reaps them.
void StopTogether(const std::vector<ChildProcess*>& children, std::chrono::milliseconds grace);

// The last `lines` lines of a log file, for error messages.
std::string LogTail(const std::string& path, int lines);

}  // namespace strata::cli
