// Internal to ucx/: one UCP context and worker, progressed by the thread that waits on it or,
// while nobody waits, by a progress thread of its own.
// A caller waiting for a completion (Drive) progresses the worker itself: rounds of
// ucp_worker_progress for up to kSpinWindow (yielding the core between rounds, so a peer
// thread that shares it still runs), then sleeping on the worker's event fd, so what
// lands within the spin costs no thread wake-up and what lands after it costs one (the
// caller's). The progress thread serves work nobody waits for (a send still under way when
// Send returned, the handshake, connection requests): it sleeps on the worker's event fd and
// on an eventfd that callers Kick after posting such work, and stands by (sleeping on the
// eventfd alone) while a caller drives and for kStandbyRecheck after one did, so the two never
// race for the worker's events and a busy link does not wake it per message. Nothing spins
// longer than kSpinWindow per wait.
// Every UCP call on the worker, from callers and from the thread, is made with mu() held (the
// worker is UCS_THREAD_MODE_SERIALIZED); mu() is released only to sleep. Completion callbacks
// run with mu() held on whichever thread progresses and notify cv().
// Thread-safety: as above; one caller drives at a time (another waits on cv() meanwhile);
// Create and the destructor from the owning thread.
#pragma once

#include <sched.h>
#include <ucp/api/ucp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/util/status.h"

namespace strata::transport {

class UcxWorker {
 public:
  using Clock = std::chrono::steady_clock;

  // How long a waiting caller progresses the worker before it sleeps on the event fd: a
  // loopback round trip of a decode message (16 KiB) with both ends driving is ~13 us on the
  // 2-core dev VM (tcp or shared memory), so a reply that follows a send lands within the
  // spin with room for a scheduler hiccup; a wait for a step's compute (milliseconds) spends
  // at most this much CPU before it sleeps: 1 % of a core at a 5 ms decode step.
  static constexpr std::chrono::microseconds kSpinWindow{50};
  // How long the progress thread stands by after a caller drove progress, before it watches
  // the worker's events again: a link busy with messages wakes it at most this often, and
  // work nobody waits for is progressed within this (a Kick wakes it at once).
  static constexpr std::chrono::milliseconds kStandbyRecheck{10};
  // The longest sleep on the event fd: with the worker armed a sleep ends on any UCX event,
  // so the bound only guards against an event UCX failed to signal.
  static constexpr std::chrono::milliseconds kEventPollBound{100};

  // Reads UCX's configuration from the environment (UCX_TLS, UCX_NET_DEVICES, ...);
  // `net_devices`, unless empty, replaces UCX_NET_DEVICES (the network devices UCX may use).
  static StatusOr<std::unique_ptr<UcxWorker>> Create(const std::string& net_devices = "");
  ~UcxWorker();  // stops the progress thread, then destroys the worker and context
  UcxWorker(const UcxWorker&) = delete;
  UcxWorker& operator=(const UcxWorker&) = delete;

  // Starts the progress thread; `after_progress` runs, mu() held, after every round of
  // ucp_worker_progress on either thread (for work a callback may not do itself, such as
  // creating an endpoint).
  void Start(std::function<void()> after_progress);
  // Joins the progress thread; call before tearing down what after_progress uses.
  void Stop();

  ucp_worker_h worker() const { return worker_; }
  std::mutex& mu() { return mu_; }
  std::condition_variable& cv() { return cv_; }
  // Wakes the progress thread (after posting work nobody will drive, so it gets progressed).
  void Kick();
  // mu() held: rounds of progress completed so far (cv() is notified after each), so a caller
  // can wait until completions UCX has already matched but deferred have run.
  uint64_t rounds() const { return rounds_; }

  // mu() held through `lock`: waits until done() or `deadline`, progressing the worker from
  // this thread (see the file comment); returns done(). While another caller drives, waits on
  // cv() instead.
  template <class Done>
  bool Drive(std::unique_lock<std::mutex>& lock, Clock::time_point deadline, Done done) {
    if (done()) return true;
    if (driving_) return cv_.wait_until(lock, deadline, done);
    driving_ = true;
    ++drives_;
    const Clock::time_point spin_until = Clock::now() + kSpinWindow;
    bool slept = false;
    for (;;) {
      Round();
      if (done()) break;
      const Clock::time_point now = Clock::now();
      if (now >= deadline) break;
      if (now < spin_until) {
        // What completes the wait may be runnable on this very core (wake-affine scheduling
        // puts a woken peer beside its waker; a 2-core machine has little choice): let it run
        // rather than spin the window away. With nothing else to run this returns at once.
        sched_yield();
        continue;
      }
      SleepOnEvents(lock, std::min(deadline, now + kEventPollBound), /*with_kick=*/false);
      slept = true;
    }
    driving_ = false;
    // The progress thread may stand by until the next recheck; after a sleep (not the fast
    // path) it is woken to watch the worker again at once.
    if (slept) Kick();
    return done();
  }
  // mu() held through `lock`: Drive for at most kSpinWindow, never sleeping.
  template <class Done>
  bool Spin(std::unique_lock<std::mutex>& lock, Done done) {
    return Drive(lock, Clock::now() + kSpinWindow, done);
  }

  // Closes `ep` (flushing it first unless `force`), waiting up to `timeout`; mu() not held.
  // A worker serves one endpoint, so one close at a time.
  void CloseEndpoint(ucp_ep_h ep, bool force, std::chrono::milliseconds timeout);

 private:
  UcxWorker() = default;
  void ProgressLoop();
  // mu() held: progresses until UCX has nothing more, runs after_progress and notifies cv().
  void Round();
  // mu() held through `lock`: arms the worker and, unless events are pending, sleeps with mu()
  // released until a UCX event, `until` or (with_kick) a Kick.
  void SleepOnEvents(std::unique_lock<std::mutex>& lock, Clock::time_point until,
                     bool with_kick);
  // mu() not held: sleeps until a Kick (consumed) or `timeout`; true when kicked.
  bool WaitForKick(std::chrono::milliseconds timeout);
  static void CloseDone(void* request, ucs_status_t status, void* user_data);

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int worker_fd_ = -1;  // UCX's event fd for the worker (owned by UCX)
  int wake_fd_ = -1;    // eventfd written by Kick
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> after_progress_;
  // Guarded by mu_:
  bool stop_ = false;
  bool close_done_ = false;
  bool driving_ = false;  // a caller is in Drive
  uint64_t drives_ = 0;   // Drive calls that progressed, so far
  uint64_t rounds_ = 0;
  std::thread thread_;
};

std::string UcsError(ucs_status_t status);

}  // namespace strata::transport
