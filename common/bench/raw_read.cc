// MeasureRawRead (see raw_read.h).
#include "common/bench/raw_read.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "common/storage/durable_file.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {


// Reads [first, last) of `fd` through `buf` (block_bytes, aligned); OK or the failure.
Status ReadRange(int fd, const std::string& path, uint64_t first, uint64_t last, std::byte* buf,
                 size_t block_bytes) {
  for (uint64_t off = first; off < last;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(block_bytes, last - off));
    const ssize_t got = ::pread(fd, buf, want, static_cast<off_t>(off));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("raw read failed at offset " + std::to_string(off) + " of", path, errno);
    }
    if (got == 0) {
      return DataLoss(path + " ends at " + std::to_string(off) + ", before the range read ends at " +
                      std::to_string(last));
    }
    off += static_cast<uint64_t>(got);
  }
  return OkStatus();
}

}  // namespace

StatusOr<RawReadResult> MeasureRawRead(const std::string& path, uint64_t offset, uint64_t bytes,
                                       int threads, size_t block_bytes) {
  if (threads < 1 || bytes == 0 || block_bytes == 0 || offset % kDirectIoAlignment != 0 ||
      bytes % kDirectIoAlignment != 0 || block_bytes % kDirectIoAlignment != 0) {
    return InvalidArgument("raw read of " + path +
                           ": offset, bytes and block must be multiples of 4096, threads >= 1");
  }
  RawReadResult result;
  result.bytes = bytes;
  result.threads = threads;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  result.direct = fd >= 0;
  if (fd < 0 && errno == EINVAL) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // tmpfs
  if (fd < 0) return ErrnoError("cannot open", path, errno);

  std::vector<std::unique_ptr<std::byte, decltype(&std::free)>> buffers;
  for (int t = 0; t < threads; ++t) {
    buffers.emplace_back(static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, block_bytes)), &std::free);
    if (buffers.back() == nullptr) {
      ::close(fd);
      return ResourceExhausted("cannot allocate read buffers for the raw read of " + path);
    }
  }
  // Each thread reads one contiguous share, split on block boundaries.
  const uint64_t blocks = (bytes + block_bytes - 1) / block_bytes;
  std::vector<Status> status(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    const uint64_t first = offset + blocks * static_cast<uint64_t>(t) / threads * block_bytes;
    const uint64_t last =
        std::min(offset + bytes, offset + blocks * static_cast<uint64_t>(t + 1) / threads * block_bytes);
    pool.emplace_back([&, t, first, last] {
      status[static_cast<size_t>(t)] =
          ReadRange(fd, path, first, last, buffers[static_cast<size_t>(t)].get(), block_bytes);
    });
  }
  for (std::thread& th : pool) th.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  for (const Status& s : status) STRATA_RETURN_IF_ERROR(s);
  result.gbps = static_cast<double>(bytes) / seconds / 1e9;
  return result;
}

}  // namespace strata
