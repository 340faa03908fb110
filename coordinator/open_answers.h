// Completion requests accepted and not yet answered to the end, counted so that a drain can
// wait for the last byte of every answer before the HTTP server stops (cpp-httplib cuts a
// chunked response off when it stops). A request holds a Ticket from its acceptance until
// its answer is written: the handler's scope for a whole response, the response's lifetime
// for a stream. Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace strata::coordinator {

class OpenAnswers {
 public:
  // Counts one answer open for as long as it lives (move-only).
  class Ticket {
   public:
    explicit Ticket(OpenAnswers& answers) : answers_(&answers) { answers.Open(); }
    Ticket(Ticket&& other) noexcept : answers_(other.answers_) { other.answers_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket() {
      if (answers_ != nullptr) answers_->Close();
    }

   private:
    OpenAnswers* answers_;
  };

  // Waits until no answer is open or `until` passes; returns how many are still open.
  size_t WaitAllAnswered(std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, until, [&] { return open_ == 0; });
    return open_;
  }

 private:
  void Open() {
    std::lock_guard lock(mu_);
    ++open_;
  }
  void Close() {
    std::lock_guard lock(mu_);
    if (--open_ == 0) cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  size_t open_ = 0;
};

}  // namespace strata::coordinator
