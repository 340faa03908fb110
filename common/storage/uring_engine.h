// Internal to ExtentReader: reads through one io_uring. Requests are split into blocks that
// are issued oldest request first, `queue_depth` blocks in flight; short reads and
// EINTR/EAGAIN are resubmitted. All tables are sized at Create.
// Thread-safety: one driving thread.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/storage/read_engine.h"

namespace strata {

class UringEngine final : public ReadEngine {
 public:
  // Errors when io_uring cannot be set up here (the reader then falls back): the message
  // names io_uring_queue_init and the errno text. `fd` and `path` outlive the engine.
  static StatusOr<std::unique_ptr<UringEngine>> Create(int fd, const std::string& path,
                                                       int queue_depth, size_t block_bytes,
                                                       int max_reads);
  ~UringEngine() override;

  void Start(const ReadRequest& request) override;
  ReadCompletion Wait() override;
  bool Poll(ReadCompletion* completion) override;

 private:
  struct Slot {  // one request
    ReadRequest request;
    bool active = false;
    uint64_t sequence = 0;  // issue order: the oldest active request gets blocks first
    size_t issued = 0;      // bytes handed to blocks
    size_t done = 0;        // bytes landed
    int in_flight = 0;      // blocks outstanding
    Status status;
  };
  struct Block {  // one SQE's worth of a request
    int slot = -1;
    size_t pos = 0;  // within the request
    size_t len = 0;
  };

  UringEngine(int fd, const std::string& path) : fd_(fd), path_(path) {}
  void Issue();                 // fills free blocks from the oldest requests, then submits
  void PrepareRead(int block);  // one SQE for blocks_[block]
  void Reap();                  // handles every CQE that is ready
  void Complete(int block, int result);
  bool PopCompleted(ReadCompletion* completion);

  int fd_;
  const std::string& path_;
  size_t block_bytes_ = 0;
  io_uring ring_{};
  bool ring_ready_ = false;       // io_uring_queue_init succeeded
  std::vector<Slot> slots_;       // (max_reads)
  std::vector<Block> blocks_;     // (queue_depth)
  std::vector<int> free_blocks_;  // stack of indices into blocks_, capacity queue_depth
  std::vector<int> completed_;    // FIFO ring of slot indices, capacity max_reads
  size_t completed_head_ = 0;
  size_t completed_count_ = 0;
  uint64_t next_sequence_ = 0;
  int blocks_in_flight_ = 0;
  bool draining_ = false;  // set by the destructor: issue nothing new
};

}  // namespace strata
