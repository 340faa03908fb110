// PackDataWriter over write(2) and a streaming XXH3 state (see pack_data_writer.h).
#include "common/storage/pack_data_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/storage/durable_file.h"
#include "common/util/check.h"
#include "common/util/direct_io.h"

namespace strata {

StatusOr<std::unique_ptr<PackDataWriter>> PackDataWriter::Create(const std::string& path,
                                                                 size_t buffer_bytes,
                                                                 uint64_t fail_after_bytes) {
  STRATA_CHECK(buffer_bytes > 0);
  std::unique_ptr<PackDataWriter> w(new PackDataWriter());
  w->path_ = path;
  w->fail_after_bytes_ = fail_after_bytes;
  w->buffer_.resize(buffer_bytes);
  w->hash_ = XXH3_createState();
  STRATA_CHECK(w->hash_ != nullptr);
  w->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return ErrnoError("cannot create", path, errno);
  return w;
}

PackDataWriter::~PackDataWriter() {
  if (fd_ >= 0) ::close(fd_);
  XXH3_freeState(hash_);
}

void PackDataWriter::BeginExtent() { STRATA_CHECK(XXH3_64bits_reset(hash_) == XXH_OK); }

Status PackDataWriter::Append(const void* data, size_t bytes) {
  STRATA_CHECK(XXH3_64bits_update(hash_, data, bytes) == XXH_OK);
  const auto* in = static_cast<const std::byte*>(data);
  while (bytes > 0) {
    const size_t n = std::min(bytes, buffer_.size() - buffer_used_);
    std::memcpy(buffer_.data() + buffer_used_, in, n);
    buffer_used_ += n;
    offset_ += n;
    in += n;
    bytes -= n;
    if (buffer_used_ == buffer_.size()) STRATA_RETURN_IF_ERROR(Flush());
  }
  return OkStatus();
}

Status PackDataWriter::PadTo(uint64_t offset) {
  STRATA_CHECK(offset >= offset_);
  static constexpr std::byte kZeros[kDirectIoAlignment] = {};
  while (offset_ < offset) {
    STRATA_RETURN_IF_ERROR(Append(kZeros, std::min<uint64_t>(sizeof kZeros, offset - offset_)));
  }
  return OkStatus();
}

uint64_t PackDataWriter::ExtentChecksum() const { return XXH3_64bits_digest(hash_); }

Status PackDataWriter::Flush() {
  size_t done = 0;
  while (done < buffer_used_) {
    if (fail_after_bytes_ != 0 && written_ + (buffer_used_ - done) > fail_after_bytes_) {
      return Internal("writing " + path_ + ": stopped after " + std::to_string(written_) +
                      " bytes by the fail_after_bytes test hook");
    }
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_used_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("cannot write", path_, errno);
    done += static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
  buffer_used_ = 0;
  return OkStatus();
}

Status PackDataWriter::Finish() {
  STRATA_RETURN_IF_ERROR(Flush());
  if (::fsync(fd_) != 0) return ErrnoError("cannot fsync", path_, errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return ErrnoError("cannot close", path_, errno);
  return OkStatus();
}

}  // namespace strata
