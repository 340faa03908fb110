// Reads byte ranges of a file (a pack's weights.bin) into caller-provided, 4096-aligned
// buffers such as the executor's pinned staging slots, asynchronously so that reads overlap
// compute. Each read is split into blocks of `block_bytes`, `queue_depth` of them in flight.
//
// Paths, best first (path_kind() says which one was taken, fallback_reason() why):
//   "io_uring+O_DIRECT"    liburing with O_DIRECT, no page cache
//   "io_uring (buffered)"  when the file system refuses O_DIRECT (tmpfs, some overlays)
//   "pread+O_DIRECT"       when io_uring cannot be set up (old kernels, seccomp in containers)
//   "pread (buffered)"     both unavailable
// The pread paths serve reads in submission order on one background thread, so they still
// overlap the caller's work. ReaderOptions can forbid io_uring or O_DIRECT (tests, benchmarks).
//
// On the io_uring path a read allocates nothing and makes no syscalls beyond io_uring's: the
// request and block tables are allocated at Open.
// Thread-safety: one thread drives a reader (Submit, WaitAny, Poll, ReadSync); the pread
// path's worker thread is internal. Destroying a reader waits for the blocks in flight to
// land and drops the reads not yet finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/util/direct_io.h"
#include "common/util/status.h"

namespace strata {

struct ReaderOptions {
  int queue_depth = 32;                  // blocks in flight, 1..4096 (32 x 1 MiB: best or
                                         // near it on the disks measured, docs/benchmarks.md)
  size_t block_bytes = size_t{1} << 20;  // a multiple of kDirectIoAlignment
  int max_reads = 16;                    // reads submitted and not yet returned by WaitAny/Poll
  bool allow_io_uring = true;
  bool allow_direct = true;
};

// A finished read: its tag, and OK or the error that ended it.
struct [[nodiscard]] ReadCompletion {
  uint64_t tag = 0;
  Status status;
};

class ReadEngine;

class ExtentReader {
 public:
  // Offsets, lengths and buffers are multiples of kDirectIoAlignment on every path (O_DIRECT
  // needs it; the others demand the same so a caller never depends on the path chosen).
  // Opens `path` and picks the best allowed path. Errors: options out of range
  // (kInvalidArgument); the file missing (kNotFound) or unreadable.
  static StatusOr<std::unique_ptr<ExtentReader>> Open(const std::string& path,
                                                      const ReaderOptions& options = {});
  ExtentReader(const ExtentReader&) = delete;
  ExtentReader& operator=(const ExtentReader&) = delete;
  ~ExtentReader();

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  std::string_view path_kind() const { return path_kind_; }
  // Empty when the best allowed path was taken; else why each step down was needed.
  const std::string& fallback_reason() const { return fallback_reason_; }
  int pending() const { return pending_; }  // submitted, not yet returned
  int max_reads() const { return max_reads_; }

  // Starts reading `bytes` at `file_offset` into `dst`; `dst` must stay valid and untouched
  // until WaitAny or Poll returns `tag`. Errors (nothing started): a null or unaligned `dst`,
  // an unaligned offset or length, zero bytes, a range past the end of the file
  // (kInvalidArgument); max_reads reads pending (kResourceExhausted).
  Status Submit(uint64_t tag, uint64_t file_offset, size_t bytes, std::byte* dst);

  // Blocks until some submitted read has fully completed (or failed: kDataLoss for EIO or a
  // file that ends early, kUnavailable for other errors, naming the file, offset and errno
  // text) and returns it. A failed read has stopped writing into its buffer. At least one
  // read must be pending.
  ReadCompletion WaitAny();
  // Like WaitAny without blocking: false when no read has completed yet.
  bool Poll(ReadCompletion* completion);

  // Submit + wait for that read alone. Requires that no other read is pending
  // (kFailedPrecondition otherwise).
  Status ReadSync(uint64_t file_offset, size_t bytes, std::byte* dst);

 private:
  ExtentReader() = default;

  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  int max_reads_ = 0;
  int pending_ = 0;
  std::string path_kind_;
  std::string fallback_reason_;
  std::unique_ptr<ReadEngine> engine_;
};

}  // namespace strata
