// Streams weights.bin: appends through a fixed-size buffer (the whole model is never held
// in memory), pads to aligned offsets with zeros, and hashes each extent with streaming XXH3
// as its bytes go by. Thread-safety: one thread uses a writer.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace strata {

class PackDataWriter {
 public:
  // Creates `path` (truncating it). `buffer_bytes` bounds the memory used. When
  // `fail_after_bytes` is non-zero, the write that would pass that many bytes fails instead
  // (kInternal), so tests can interrupt a pack mid-write.
  static StatusOr<std::unique_ptr<PackDataWriter>> Create(const std::string& path,
                                                          size_t buffer_bytes,
                                                          uint64_t fail_after_bytes);
  PackDataWriter(const PackDataWriter&) = delete;
  PackDataWriter& operator=(const PackDataWriter&) = delete;
  ~PackDataWriter();

  // Bytes appended so far (the offset of the next byte in the file).
  uint64_t offset() const { return offset_; }

  // Starts hashing a new extent at the current offset.
  void BeginExtent();
  Status Append(const void* data, size_t bytes);
  // Appends zeros up to the absolute file offset `offset` (>= offset()).
  Status PadTo(uint64_t offset);
  // The XXH3_64bits of everything appended since BeginExtent.
  uint64_t ExtentChecksum() const;

  // Writes out the buffer, fsyncs and closes the file.
  Status Finish();

 private:
  PackDataWriter() = default;
  Status Flush();

  std::string path_;
  int fd_ = -1;
  std::vector<std::byte> buffer_;  // (buffer_bytes) pending bytes, buffer_used_ of them valid
  size_t buffer_used_ = 0;
  uint64_t offset_ = 0;
  uint64_t written_ = 0;  // bytes handed to write(2)
  uint64_t fail_after_bytes_ = 0;
  XXH3_state_t* hash_ = nullptr;
};

}  // namespace strata
