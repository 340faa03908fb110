// UringEngine: block scheduling over liburing (see uring_engine.h).
#include "common/storage/uring_engine.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/util/check.h"

namespace strata {

StatusOr<std::unique_ptr<UringEngine>> UringEngine::Create(int fd, const std::string& path,
                                                           int queue_depth, size_t block_bytes,
                                                           int max_reads) {
  std::unique_ptr<UringEngine> e(new UringEngine(fd, path));
  const int rc = io_uring_queue_init(static_cast<unsigned>(queue_depth), &e->ring_, 0);
  if (rc < 0) return Unavailable(std::string("io_uring_queue_init: ") + std::strerror(-rc));
  e->ring_ready_ = true;
  e->block_bytes_ = block_bytes;
  e->slots_.resize(static_cast<size_t>(max_reads));
  e->blocks_.resize(static_cast<size_t>(queue_depth));
  for (int b = queue_depth - 1; b >= 0; --b) e->free_blocks_.push_back(b);
  e->completed_.resize(static_cast<size_t>(max_reads));
  return e;
}

UringEngine::~UringEngine() {
  if (!ring_ready_) return;
  // The kernel may still be writing into callers' buffers: wait for every block to land.
  draining_ = true;
  while (blocks_in_flight_ > 0) {
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    STRATA_CHECK_MSG(rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY,
                     "io_uring_submit_and_wait failed while draining");
    Reap();
  }
  io_uring_queue_exit(&ring_);
}

void UringEngine::Start(const ReadRequest& request) {
  for (size_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].active) continue;
    slots_[s] = Slot{request, true, next_sequence_++, 0, 0, 0, OkStatus()};
    Issue();
    return;
  }
  STRATA_CHECK_MSG(false, "UringEngine::Start without a free request slot");
}

void UringEngine::PrepareRead(int block) {
  const Block& b = blocks_[static_cast<size_t>(block)];
  const ReadRequest& r = slots_[static_cast<size_t>(b.slot)].request;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  // At most queue_depth blocks exist and the SQ has queue_depth entries.
  STRATA_CHECK(sqe != nullptr);
  io_uring_prep_read(sqe, fd_, r.dst + b.pos, static_cast<unsigned>(b.len), r.offset + b.pos);
  io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(block));
}

void UringEngine::Issue() {
  while (!draining_ && !free_blocks_.empty()) {
    Slot* oldest = nullptr;
    for (Slot& s : slots_) {
      if (s.active && s.status.ok() && s.issued < s.request.bytes &&
          (oldest == nullptr || s.sequence < oldest->sequence)) {
        oldest = &s;
      }
    }
    if (oldest == nullptr) break;
    const int block = free_blocks_.back();
    free_blocks_.pop_back();
    const size_t len = std::min(block_bytes_, oldest->request.bytes - oldest->issued);
    blocks_[static_cast<size_t>(block)] =
        Block{static_cast<int>(oldest - slots_.data()), oldest->issued, len};
    oldest->issued += len;
    ++oldest->in_flight;
    ++blocks_in_flight_;
    PrepareRead(block);
  }
  // Also submits what Complete re-prepared (short reads, EINTR); with nothing queued this
  // makes no syscall. EINTR/EAGAIN/EBUSY leave the SQEs queued for the next submit.
  const int rc = io_uring_submit(&ring_);
  STRATA_CHECK_MSG(rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY,
                   "io_uring_submit failed");
}

void UringEngine::Complete(int block, int result) {
  Block& b = blocks_[static_cast<size_t>(block)];
  Slot& s = slots_[static_cast<size_t>(b.slot)];
  if (!draining_ && s.status.ok()) {
    if (result > 0 && static_cast<size_t>(result) < b.len) {
      s.done += static_cast<size_t>(result);  // short read: ask for the rest
      b.pos += static_cast<size_t>(result);
      b.len -= static_cast<size_t>(result);
      PrepareRead(block);
      return;
    }
    if (result == -EINTR || result == -EAGAIN) {
      PrepareRead(block);
      return;
    }
  }
  if (result > 0) {
    s.done += static_cast<size_t>(result);
  } else if (s.status.ok() && !draining_) {
    const uint64_t at = s.request.offset + b.pos;
    s.status = result == 0 ? EndOfFileError(path_, at) : ReadError(path_, at, -result);
  }
  free_blocks_.push_back(block);
  --blocks_in_flight_;
  --s.in_flight;
  const bool finished = s.status.ok() ? s.done == s.request.bytes : s.in_flight == 0;
  if (finished && !draining_) {
    completed_[(completed_head_ + completed_count_) % completed_.size()] = b.slot;
    ++completed_count_;
  }
}

void UringEngine::Reap() {
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    const int block = static_cast<int>(io_uring_cqe_get_data64(cqe));
    const int result = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    Complete(block, result);
  }
  Issue();
}

bool UringEngine::PopCompleted(ReadCompletion* completion) {
  if (completed_count_ == 0) return false;
  Slot& s = slots_[static_cast<size_t>(completed_[completed_head_])];
  completed_head_ = (completed_head_ + 1) % completed_.size();
  --completed_count_;
  completion->tag = s.request.tag;
  completion->status = std::move(s.status);
  s.active = false;
  return true;
}

ReadCompletion UringEngine::Wait() {
  ReadCompletion c;
  while (!PopCompleted(&c)) {
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    STRATA_CHECK_MSG(rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY,
                     "io_uring_submit_and_wait failed");
    Reap();
  }
  return c;
}

bool UringEngine::Poll(ReadCompletion* completion) {
  Reap();
  return PopCompleted(completion);
}

}  // namespace strata
