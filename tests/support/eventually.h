// Waiting for a condition in tests: Eventually checks it every few milliseconds until it
// holds or the timeout passes, so a test waits for a state instead of sleeping a guessed
// time. Thread-safety: a function without shared state.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace strata::testing {

// True once `done` holds; false if it still does not after `timeout`.
inline bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  for (const auto until = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < until;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace strata::testing
