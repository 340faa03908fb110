// Internal to ExtentReader: the fallback engine. One background thread serves requests in
// submission order with pread(2), block by block, so reads still overlap the caller's work.
// The request and completion rings are sized at construction.
// Thread-safety: one driving thread plus the internal worker; shared state under mu_.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/storage/read_engine.h"

namespace strata {

class PreadEngine final : public ReadEngine {
 public:
  // `fd` and `path` outlive the engine.
  PreadEngine(int fd, const std::string& path, size_t block_bytes, int max_reads);
  ~PreadEngine() override;

  void Start(const ReadRequest& request) override;
  ReadCompletion Wait() override;
  bool Poll(ReadCompletion* completion) override;

 private:
  void Serve();                                   // the worker thread's loop
  Status Read(const ReadRequest& request) const;  // the whole request, block by block

  const int fd_;
  const std::string& path_;
  const size_t block_bytes_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // a request was queued, or stop_
  std::condition_variable done_cv_;  // a completion was queued
  std::vector<ReadRequest> queue_;   // FIFO ring, capacity max_reads
  size_t queue_head_ = 0;
  size_t queue_count_ = 0;
  std::vector<ReadCompletion> done_;  // FIFO ring, capacity max_reads
  size_t done_head_ = 0;
  size_t done_count_ = 0;
  std::atomic<bool> stop_{false};  // set under mu_; Read also polls it between blocks
  std::thread worker_;             // last: starts after the state above exists
};

}  // namespace strata
