// Internal to ExtentReader: the interface of its two engines (io_uring, pread thread), the
// request they serve and the errors they report. ExtentReader validates every request
// before an engine sees it and never starts more than the engine's max_reads.
// Thread-safety: as ExtentReader (one driving thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/storage/extent_reader.h"
#include "common/util/status.h"

namespace strata {

struct ReadRequest {
  uint64_t tag = 0;
  uint64_t offset = 0;  // in the file
  size_t bytes = 0;     // > 0
  std::byte* dst = nullptr;
};

class ReadEngine {
 public:
  virtual ~ReadEngine() = default;
  // Begins `request`; a free request slot exists (pending < max_reads).
  virtual void Start(const ReadRequest& request) = 0;
  // Blocks until a started request has completed or failed; at least one is outstanding.
  virtual ReadCompletion Wait() = 0;
  virtual bool Poll(ReadCompletion* completion) = 0;
};

// The error for errno `err` while reading `path` at `offset`: kDataLoss for media errors
// (EIO, ENODATA, EBADMSG), kUnavailable otherwise.
Status ReadError(const std::string& path, uint64_t offset, int err);
// The error for a read that found the end of `path` at `offset` before its last byte.
Status EndOfFileError(const std::string& path, uint64_t offset);

}  // namespace strata
