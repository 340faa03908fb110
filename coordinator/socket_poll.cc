// PollFor (see socket_poll.h).
#include "coordinator/socket_poll.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>

namespace strata::coordinator {

int PollFor(int fd, short events, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pollfd p{fd, events, 0};
    const int wait_ms = static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, INT_MAX));
    const int n = ::poll(&p, 1, wait_ms);
    if (n > 0) return p.revents;
    if (n == 0) return 0;
    if (errno != EINTR) return -1;
    timeout = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  }
}

}  // namespace strata::coordinator
