// EvictFilePages and ResidentFraction (see page_cache.h).
#include "common/bench/page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/storage/durable_file.h"

namespace strata {

Status EvictFilePages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  const int err = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);  // returns the error
  ::close(fd);
  if (err != 0) {
    return FailedPrecondition("posix_fadvise(DONTNEED) on " + path + ": " + std::strerror(err));
  }
  return OkStatus();
}

StatusOr<double> ResidentFraction(const std::string& path, uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("cannot stat", path, err);
  }
  if (bytes > static_cast<uint64_t>(st.st_size)) {
    ::close(fd);
    return InvalidArgument("residency of " + std::to_string(bytes) + " bytes of " + path +
                           ": the file has only " + std::to_string(st.st_size));
  }
  if (bytes == 0) {
    ::close(fd);
    return 0.0;
  }
  // Mapping reads nothing; mincore only reports which pages are cached.
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return ErrnoError("cannot map", path, map_err);
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> cached((bytes + page - 1) / page);
  const int rc = ::mincore(map, bytes, cached.data());
  const int mincore_err = errno;
  ::munmap(map, bytes);
  if (rc != 0) return ErrnoError("mincore failed on", path, mincore_err);
  uint64_t resident = 0;
  for (unsigned char c : cached) resident += c & 1u;
  return static_cast<double>(resident) / static_cast<double>(cached.size());
}

}  // namespace strata
