// UcxWorker: context and worker set-up, progress driven by waiting callers, and the progress
// thread for what nobody waits for.
#include "common/transport/ucx/ucx_worker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

namespace strata::transport {
namespace {

// After a failed arm nothing signals the event fd, so a sleep on it lasts at most this.
constexpr std::chrono::milliseconds kArmFailedPoll{1};

timespec ToTimespec(std::chrono::nanoseconds t) {
  const auto ns = std::max<std::chrono::nanoseconds::rep>(t.count(), 0);
  return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace

std::string UcsError(ucs_status_t status) { return ucs_status_string(status); }

StatusOr<std::unique_ptr<UcxWorker>> UcxWorker::Create(const std::string& net_devices) {
  std::unique_ptr<UcxWorker> w(new UcxWorker());
  ucp_config_t* config = nullptr;
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
  if (st != UCS_OK) return Unavailable("reading the UCX configuration: " + UcsError(st));
  if (!net_devices.empty()) {
    st = ucp_config_modify(config, "NET_DEVICES", net_devices.c_str());
    if (st != UCS_OK) {
      ucp_config_release(config);
      return Unavailable("UCX network devices '" + net_devices + "': " + UcsError(st));
    }
  }
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP;
  st = ucp_init(&params, config, &w->context_);
  ucp_config_release(config);
  if (st != UCS_OK) {
    return Unavailable("ucp_init: " + UcsError(st) + "; check UCX_TLS and UCX_NET_DEVICES");
  }
  ucp_worker_params_t wparams{};
  wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wparams.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  st = ucp_worker_create(w->context_, &wparams, &w->worker_);
  if (st != UCS_OK) return Unavailable("ucp_worker_create: " + UcsError(st));
  st = ucp_worker_get_efd(w->worker_, &w->worker_fd_);
  if (st != UCS_OK) {
    return Unavailable("ucp_worker_get_efd: " + UcsError(st) +
                       "; the selected UCX transports cannot wake a sleeping thread");
  }
  w->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->wake_fd_ < 0) return Internal(std::string("eventfd: ") + std::strerror(errno));
  return w;
}

UcxWorker::~UcxWorker() {
  Stop();
  if (worker_ != nullptr) ucp_worker_destroy(worker_);
  if (context_ != nullptr) ucp_cleanup(context_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void UcxWorker::Start(std::function<void()> after_progress) {
  after_progress_ = std::move(after_progress);
  thread_ = std::thread([this] { ProgressLoop(); });
}

void UcxWorker::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  Kick();
  thread_.join();
}

void UcxWorker::Kick() {
  const uint64_t one = 1;
  // A full counter already wakes the thread, so a failed write loses nothing.
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof one);
}

void UcxWorker::Round() {
  while (ucp_worker_progress(worker_) != 0) {
  }
  if (after_progress_) after_progress_();
  ++rounds_;
  cv_.notify_all();
}

void UcxWorker::SleepOnEvents(std::unique_lock<std::mutex>& lock, Clock::time_point until,
                              bool with_kick) {
  const ucs_status_t armed = ucp_worker_arm(worker_);
  if (armed == UCS_ERR_BUSY) return;  // events arrived meanwhile: progress again
  const timespec wait =
      ToTimespec(armed == UCS_OK ? until - Clock::now() : Clock::duration(kArmFailedPoll));
  lock.unlock();
  pollfd fds[2] = {{worker_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const int rc = ppoll(fds, with_kick ? 2 : 1, &wait, nullptr);
  if (with_kick && rc > 0 && (fds[1].revents & POLLIN)) {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = read(wake_fd_, &count, sizeof count);
  }
  lock.lock();
}

bool UcxWorker::WaitForKick(std::chrono::milliseconds timeout) {
  pollfd fd{wake_fd_, POLLIN, 0};
  const timespec wait = ToTimespec(timeout);
  if (ppoll(&fd, 1, &wait, nullptr) <= 0 || !(fd.revents & POLLIN)) return false;
  uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = read(wake_fd_, &count, sizeof count);
  return true;
}

void UcxWorker::ProgressLoop() {
  std::unique_lock lock(mu_);
  uint64_t drives_seen = drives_;
  while (!stop_) {
    if (driving_ || drives_ != drives_seen) {
      // A caller drives the worker, or did lately: stand by rather than race it for events.
      drives_seen = drives_;
      const std::chrono::milliseconds bound = driving_ ? kEventPollBound : kStandbyRecheck;
      lock.unlock();
      const bool kicked = WaitForKick(bound);
      lock.lock();
      if (!kicked || driving_) continue;
    }
    Round();
    SleepOnEvents(lock, Clock::now() + kEventPollBound, /*with_kick=*/true);
  }
}

void UcxWorker::CloseDone(void* request, ucs_status_t /*status*/, void* user_data) {
  auto* self = static_cast<UcxWorker*>(user_data);
  self->close_done_ = true;
  self->cv_.notify_all();
  ucp_request_free(request);
}

void UcxWorker::CloseEndpoint(ucp_ep_h ep, bool force, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  close_done_ = false;
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                       UCP_OP_ATTR_FIELD_FLAGS;
  param.cb.send = CloseDone;
  param.user_data = this;
  param.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
  const ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
  if (request == nullptr || UCS_PTR_IS_ERR(request)) return;
  Kick();
  if (!cv_.wait_for(lock, timeout, [&] { return close_done_; })) {
    // The worker's destruction releases the endpoint; the callback only touches members.
    spdlog::warn("UCX endpoint did not close within {} ms; dropping it with the worker",
                 timeout.count());
  }
}

}  // namespace strata::transport
