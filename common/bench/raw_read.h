// The disk ceiling `strata bench` compares the SSD stage with: a raw sequential read of a
// file range with plain pread(2) calls — O_DIRECT where the file system allows it, so the
// page cache neither helps nor hides — by one or several threads, each over its own share.
// Independent of ExtentReader, so it measures the disk, not our reader.
// Thread-safety: functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/util/status.h"

namespace strata {

struct RawReadResult {
  double gbps = 0;       // bytes / wall seconds (1e9 bytes per second)
  uint64_t bytes = 0;
  int threads = 0;
  bool direct = false;   // O_DIRECT was used
};

// Reads [offset, offset + bytes) of `path` in `block_bytes` preads (offset, bytes and block
// multiples of 4096). Errors name the path: cannot open (kNotFound / kUnavailable), a read
// error or a file shorter than the range (kDataLoss), bad arguments (kInvalidArgument).
StatusOr<RawReadResult> MeasureRawRead(const std::string& path, uint64_t offset, uint64_t bytes,
                                       int threads, size_t block_bytes);

}  // namespace strata
