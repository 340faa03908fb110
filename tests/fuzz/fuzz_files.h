// Files for the fuzz targets whose parser reads a path (safetensors, a checkpoint
// directory): a scratch directory made once per process under $TMPDIR (else /tmp) and
// removed at exit, and a whole-file write into it. Thread-safety: libFuzzer runs one input
// at a time; not for concurrent use.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace strata::fuzz {

// The process's scratch directory, created on first use. Kept on the heap (never freed) so
// that the clean-up at exit can still read it after static destructors ran.
inline const std::string& ScratchDir() {
  static const std::string* const dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                          "/strata-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    std::atexit([] { std::filesystem::remove_all(ScratchDir()); });
    return new std::string(std::move(pattern));
  }();
  return *dir;
}

// Replaces `path` with exactly `size` bytes of `data`; aborts on an I/O error (the harness's
// fault, not the parser's).
inline void WriteWholeFile(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) std::abort();
  for (size_t done = 0; done < size;) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  close(fd);
}

}  // namespace strata::fuzz
