// Internal to ucx/: one UCP context and worker with its own progress thread. The thread
// sleeps on the worker's event fd (ucp_worker_arm + poll) and on an eventfd that callers
// Kick after posting work, so nothing busy-spins. Every UCP call on the worker, from callers
// and from the thread, is made with mu() held (the worker is UCS_THREAD_MODE_SERIALIZED);
// completion callbacks run on the progress thread with mu() held and notify cv().
// Thread-safety: as above; Create and the destructor from the owning thread.
#pragma once

#include <ucp/api/ucp.h>

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
  // Reads UCX's configuration from the environment (UCX_TLS, UCX_NET_DEVICES, ...);
  // `net_devices`, unless empty, replaces UCX_NET_DEVICES (the network devices UCX may use).
  static StatusOr<std::unique_ptr<UcxWorker>> Create(const std::string& net_devices = "");
  ~UcxWorker();  // stops the progress thread, then destroys the worker and context
  UcxWorker(const UcxWorker&) = delete;
  UcxWorker& operator=(const UcxWorker&) = delete;

  // Starts the progress thread; `after_progress` runs on it, mu() held, after every round of
  // ucp_worker_progress (for work a callback may not do itself, such as creating an endpoint).
  void Start(std::function<void()> after_progress);
  // Joins the progress thread; call before tearing down what after_progress uses.
  void Stop();

  ucp_worker_h worker() const { return worker_; }
  std::mutex& mu() { return mu_; }
  std::condition_variable& cv() { return cv_; }
  // Wakes the progress thread (after posting work, so it gets progressed).
  void Kick();
  // mu() held: rounds of progress completed so far (cv() is notified after each), so a caller
  // can wait until completions UCX has already matched but deferred have run.
  uint64_t rounds() const { return rounds_; }

  // Closes `ep` (flushing it first unless `force`), waiting up to `timeout`; mu() not held.
  // A worker serves one endpoint, so one close at a time.
  void CloseEndpoint(ucp_ep_h ep, bool force, std::chrono::milliseconds timeout);

 private:
  UcxWorker() = default;
  void ProgressLoop();
  static void CloseDone(void* request, ucs_status_t status, void* user_data);

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int worker_fd_ = -1;  // UCX's event fd for the worker (owned by UCX)
  int wake_fd_ = -1;    // eventfd written by Kick
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> after_progress_;
  bool stop_ = false;
  bool close_done_ = false;
  uint64_t rounds_ = 0;  // guarded by mu_
  std::thread thread_;
};

std::string UcsError(ucs_status_t status);

}  // namespace strata::transport
