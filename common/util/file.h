// Whole-file reads and read-only memory maps, with errors that name the path.
// Thread-safety: MappedFile is immutable after Open; its bytes may be read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/util/status.h"

namespace strata {

// Reads a whole (small) file such as config.json or tokenizer.json.
StatusOr<std::string> ReadFileToString(const std::string& path);

// A read-only, private memory map of a whole file. Empty files map to an empty span.
class MappedFile {
 public:
  static StatusOr<MappedFile> Open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace strata
