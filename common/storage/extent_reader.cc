// ExtentReader: opens the file, probes O_DIRECT and io_uring, picks an engine, and validates
// every request before the engine sees it (see extent_reader.h).
#include "common/storage/extent_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/storage/pread_engine.h"
#include "common/storage/read_engine.h"
#include "common/storage/uring_engine.h"
#include "common/util/check.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

constexpr size_t kMaxBlockBytes = size_t{1} << 30;

Status OpenError(const std::string& path, int err) {
  const std::string msg = "cannot open " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(msg + " (check the path)");
  return FailedPrecondition(msg);
}

// Whether O_DIRECT reads of `fd` work: some file systems accept the flag at open and refuse
// the reads (EINVAL). Reads one aligned block; other errors are real read errors.
Status ProbeDirect(int fd, const std::string& path, uint64_t file_size, bool* works) {
  *works = true;
  if (file_size == 0) return OkStatus();
  void* buf = std::aligned_alloc(kDirectIoAlignment, kDirectIoAlignment);
  STRATA_CHECK(buf != nullptr);
  ssize_t n;
  do {
    n = ::pread(fd, buf, kDirectIoAlignment, 0);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  std::free(buf);
  if (n >= 0) return OkStatus();
  if (err == EINVAL) {
    *works = false;
    return OkStatus();
  }
  return ReadError(path, 0, err);
}

}  // namespace

StatusOr<std::unique_ptr<ExtentReader>> ExtentReader::Open(const std::string& path,
                                                           const ReaderOptions& options) {
  if (options.queue_depth < 1 || options.queue_depth > 4096 || options.max_reads < 1 ||
      options.block_bytes == 0 || options.block_bytes % kDirectIoAlignment != 0 ||
      options.block_bytes > kMaxBlockBytes) {
    return InvalidArgument("reader options for " + path + ": queue_depth must be 1..4096, " +
                           "max_reads at least 1, block_bytes a multiple of 4096 up to 1 GiB");
  }
  std::unique_ptr<ExtentReader> r(new ExtentReader());
  r->path_ = path;
  r->max_reads_ = options.max_reads;
  r->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (r->fd_ < 0) return OpenError(path, errno);
  struct stat st {};
  if (::fstat(r->fd_, &st) != 0) return OpenError(path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + " is not a regular file");
  r->file_size_ = static_cast<uint64_t>(st.st_size);

  bool direct = false;
  if (options.allow_direct) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    if (fd < 0 && errno != EINVAL) return OpenError(path, errno);
    if (fd >= 0) {
      const Status probe = ProbeDirect(fd, path, r->file_size_, &direct);
      if (!probe.ok()) {
        ::close(fd);
        return probe;
      }
    }
    if (direct) {
      ::close(r->fd_);
      r->fd_ = fd;
    } else {
      if (fd >= 0) ::close(fd);
      r->fallback_reason_ = "O_DIRECT refused by the file system (EINVAL); reading buffered";
    }
  }

  if (options.allow_io_uring) {
    StatusOr<std::unique_ptr<UringEngine>> uring = UringEngine::Create(
        r->fd_, r->path_, options.queue_depth, options.block_bytes, options.max_reads);
    if (uring.ok()) {
      r->engine_ = std::move(uring).value();
      r->path_kind_ = direct ? "io_uring+O_DIRECT" : "io_uring (buffered)";
      return r;
    }
    if (!r->fallback_reason_.empty()) r->fallback_reason_ += "; ";
    r->fallback_reason_ += "io_uring unavailable (" + uring.status().message() + "); using pread";
  }
  r->engine_ =
      std::make_unique<PreadEngine>(r->fd_, r->path_, options.block_bytes, options.max_reads);
  r->path_kind_ = direct ? "pread+O_DIRECT" : "pread (buffered)";
  return r;
}

ExtentReader::~ExtentReader() {
  engine_.reset();  // before the fd it reads from
  if (fd_ >= 0) ::close(fd_);
}

Status ExtentReader::Submit(uint64_t tag, uint64_t file_offset, size_t bytes, std::byte* dst) {
  // Built only on the error paths: a valid Submit allocates nothing.
  auto what = [&] {
    return "read of " + std::to_string(bytes) + " bytes at offset " + std::to_string(file_offset) +
           " of " + path_;
  };
  if (dst == nullptr || reinterpret_cast<uintptr_t>(dst) % kDirectIoAlignment != 0 ||
      file_offset % kDirectIoAlignment != 0 || bytes % kDirectIoAlignment != 0 || bytes == 0) {
    return InvalidArgument(what() + ": the buffer, offset and length must be non-zero multiples " +
                           "of 4096 (the buffer's address too)");
  }
  if (file_offset > file_size_ || bytes > file_size_ - file_offset) {
    return InvalidArgument(what() + ": past the end of the file (" + std::to_string(file_size_) +
                           " bytes)");
  }
  if (pending_ >= max_reads_) {
    return ResourceExhausted(what() + ": " + std::to_string(max_reads_) +
                             " reads are already pending (max_reads); wait for one first");
  }
  engine_->Start(ReadRequest{tag, file_offset, bytes, dst});
  ++pending_;
  return OkStatus();
}

ReadCompletion ExtentReader::WaitAny() {
  STRATA_CHECK_MSG(pending_ > 0, "ExtentReader::WaitAny with no read pending");
  ReadCompletion c = engine_->Wait();
  --pending_;
  return c;
}

bool ExtentReader::Poll(ReadCompletion* completion) {
  if (pending_ == 0 || !engine_->Poll(completion)) return false;
  --pending_;
  return true;
}

Status ExtentReader::ReadSync(uint64_t file_offset, size_t bytes, std::byte* dst) {
  if (pending_ > 0) {
    return FailedPrecondition("ReadSync on " + path_ + " while " + std::to_string(pending_) +
                              " reads are pending; wait for them first");
  }
  STRATA_RETURN_IF_ERROR(Submit(0, file_offset, bytes, dst));
  return WaitAny().status;
}

}  // namespace strata
