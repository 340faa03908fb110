// PreadEngine: a worker thread draining a request ring with pread(2) (see pread_engine.h).
#include "common/storage/pread_engine.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace strata {

PreadEngine::PreadEngine(int fd, const std::string& path, size_t block_bytes, int max_reads)
    : fd_(fd),
      path_(path),
      block_bytes_(block_bytes),
      queue_(static_cast<size_t>(max_reads)),
      done_(static_cast<size_t>(max_reads)),
      worker_([this] { Serve(); }) {}

PreadEngine::~PreadEngine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_one();
  worker_.join();  // returns after the block being read, if any
}

void PreadEngine::Start(const ReadRequest& request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_[(queue_head_ + queue_count_) % queue_.size()] = request;
    ++queue_count_;
  }
  work_cv_.notify_one();
}

ReadCompletion PreadEngine::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return done_count_ > 0; });
  ReadCompletion c = std::move(done_[done_head_]);
  done_head_ = (done_head_ + 1) % done_.size();
  --done_count_;
  return c;
}

bool PreadEngine::Poll(ReadCompletion* completion) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_count_ == 0) return false;
  *completion = std::move(done_[done_head_]);
  done_head_ = (done_head_ + 1) % done_.size();
  --done_count_;
  return true;
}

void PreadEngine::Serve() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stop_ || queue_count_ > 0; });
    if (stop_) return;
    const ReadRequest request = queue_[queue_head_];
    queue_head_ = (queue_head_ + 1) % queue_.size();
    --queue_count_;
    lock.unlock();
    Status status = Read(request);
    lock.lock();
    if (stop_) return;
    done_[(done_head_ + done_count_) % done_.size()] =
        ReadCompletion{request.tag, std::move(status)};
    ++done_count_;
    done_cv_.notify_one();
  }
}

Status PreadEngine::Read(const ReadRequest& r) const {
  size_t done = 0;
  while (done < r.bytes) {
    if (stop_.load(std::memory_order_relaxed)) return Unavailable("reader of " + path_ + " closed");
    const size_t len = std::min(block_bytes_, r.bytes - done);
    size_t got = 0;
    while (got < len) {
      const uint64_t at = r.offset + done + got;
      const ssize_t n = ::pread(fd_, r.dst + done + got, len - got, static_cast<off_t>(at));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0) return ReadError(path_, at, errno);
      if (n == 0) return EndOfFileError(path_, at);
      got += static_cast<size_t>(n);
    }
    done += len;
  }
  return OkStatus();
}

}  // namespace strata
