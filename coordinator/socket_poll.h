// Waiting on one socket with poll(2), restarted after signals: the HTTP server's connection
// stream and its TLS handshake wait with this, each up to its own timeout.
// Thread-safety: a function without shared state.
#pragma once

#include <chrono>

namespace strata::coordinator {

// Polls `fd` for `events` for up to `timeout` (restarted with the time left after a signal).
// Returns the revents, 0 on timeout, -1 on error.
int PollFor(int fd, short events, std::chrono::milliseconds timeout);

}  // namespace strata::coordinator
