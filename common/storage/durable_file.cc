// Durable writes and directory replacement over POSIX calls (see durable_file.h).
#include "common/storage/durable_file.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace strata {

Status ErrnoError(std::string_view what, const std::string& path, int err) {
  std::string msg = std::string(what) + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ENOENT: return NotFound(msg);
    case ENOSPC:
    case EDQUOT: return ResourceExhausted(msg + " (free some space and retry)");
    case EACCES:
    case EPERM:
    case EROFS: return FailedPrecondition(msg + " (check the permissions of the output directory)");
    default: return Internal(msg);
  }
}

Status WriteFileDurably(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create", path, errno);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return ErrnoError("cannot write", path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("cannot fsync", path, err);
  }
  if (::close(fd) != 0) return ErrnoError("cannot close", path, errno);
  return OkStatus();
}

Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("cannot fsync", path, err);
  return OkStatus();
}

Status ReplaceDirectory(const std::string& from, const std::string& to, bool to_exists) {
  namespace fs = std::filesystem;
  const std::string parent = fs::path(to).parent_path().string();
  if (!to_exists) {
    // rename(2) refuses a non-empty `to`, so a directory that appeared meanwhile survives.
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError("cannot rename to", to, errno);
    return SyncPath(parent);
  }
  std::string old = from;  // after an exchange, `from` holds the old directory
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno != EINVAL && errno != ENOSYS) return ErrnoError("cannot exchange with", to, errno);
    old = to + ".old-" + std::to_string(::getpid());
    if (::rename(to.c_str(), old.c_str()) != 0) return ErrnoError("cannot move aside", to, errno);
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError("cannot rename to", to, errno);
  }
  STRATA_RETURN_IF_ERROR(SyncPath(parent));
  std::error_code ec;
  fs::remove_all(old, ec);
  if (ec) return Internal("cannot delete the replaced pack " + old + ": " + ec.message());
  return OkStatus();
}

}  // namespace strata
