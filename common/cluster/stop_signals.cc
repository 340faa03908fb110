// StopSignals (see stop_signals.h).
#include "common/cluster/stop_signals.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <string>

namespace strata::cluster {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM};

// The pipe the handler writes to: a signal handler can reach only globals. -1: none.
volatile sig_atomic_t g_write_fd = -1;

extern "C" void OnStopSignal(int signal_number) {
  const int saved_errno = errno;
  const auto byte = static_cast<unsigned char>(signal_number);
  if (g_write_fd >= 0 && write(g_write_fd, &byte, 1) < 0) {
    // A full pipe already holds more signals than anyone reads: nothing is lost that matters.
  }
  errno = saved_errno;
}

}  // namespace

StatusOr<std::unique_ptr<StopSignals>> StopSignals::Install() {
  if (g_write_fd >= 0) return FailedPrecondition("the stop signals' handlers are installed already");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Internal(std::string("cannot make the signal pipe: ") + std::strerror(errno));
  }
  g_write_fd = fds[1];
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int s : kSignals) sigaction(s, &action, nullptr);
  return std::unique_ptr<StopSignals>(new StopSignals(fds[0], fds[1]));
}

StopSignals::~StopSignals() {
  for (int s : kSignals) std::signal(s, SIG_DFL);
  g_write_fd = -1;
  close(read_fd_);
  close(write_fd_);
}

int StopSignals::Next(std::optional<std::chrono::milliseconds> timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  pollfd readable{read_fd_, POLLIN, 0};
  int ready = 0;
  do {  // poll is not restarted after a handler ran on this thread (EINTR): again, to the deadline
    int ms = -1;
    if (timeout) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      ms = static_cast<int>(std::max<int64_t>(left.count(), 0));
    }
    ready = poll(&readable, 1, ms);
  } while (ready < 0 && errno == EINTR);
  unsigned char byte = 0;
  if (ready <= 0 || read(read_fd_, &byte, 1) != 1) return 0;
  return byte;
}

void StopSignals::Wake() {
  const unsigned char zero = 0;
  if (write(write_fd_, &zero, 1) < 0) {
    // The pipe is full of unread signals: Next returns at once anyway.
  }
}

Status StopWithParent(pid_t parent) {
  if (parent <= 1) {
    return InvalidArgument("--parent-pid must be a process id above 1, not " +
                           std::to_string(parent));
  }
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
    return Internal(std::string("prctl(PR_SET_PDEATHSIG): ") + std::strerror(errno));
  }
  if (::getppid() != parent) {  // it exited before the prctl: no signal will come
    return FailedPrecondition("the process that started this one (pid " + std::to_string(parent) +
                              ", --parent-pid) has exited; stopping");
  }
  return OkStatus();
}

}  // namespace strata::cluster
