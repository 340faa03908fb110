// Damages a file in place for the corruption tests: one byte at `offset` XORed with 0x5a,
// written through the page cache (an O_DIRECT reader sees it: the kernel writes dirty pages
// back before a direct read of their range). Thread-safety: touches only the file.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace strata::testing {

inline void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

}  // namespace strata::testing
