// RunDiskSweep (see disk_sweep.h): the reader grid, then the cold and warm buffered reads.
#include "common/bench/disk_sweep.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/bench/page_cache.h"
#include "common/storage/durable_file.h"
#include "common/storage/extent_reader.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;

using AlignedBuffer = std::unique_ptr<std::byte, decltype(&std::free)>;

StatusOr<AlignedBuffer> AllocateTouched(size_t bytes, const std::string& what) {
  AlignedBuffer buf(static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, bytes)), &std::free);
  if (buf == nullptr) {
    return ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes for " + what);
  }
  std::memset(buf.get(), 0, bytes);  // page faults now, not inside a timed read
  return buf;
}

double GBps(uint64_t bytes, Clock::time_point start) {
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(bytes) / std::max(seconds, 1e-9) / 1e9;
}

Status ValidateOptions(const DiskSweepOptions& o) {
  const bool ok = !o.queue_depths.empty() && !o.block_bytes.empty() && o.chunk_bytes > 0 &&
                  o.chunk_bytes % kDirectIoAlignment == 0 && o.max_reads >= 1 && o.buffered_block_bytes > 0;
  if (!ok) {
    return InvalidArgument("disk sweep options: at least one queue depth and block size, a chunk "
                           "that is a positive multiple of 4096, max_reads >= 1 and a positive "
                           "buffered block");
  }
  return OkStatus();
}

// One reader configuration: [from, from + bytes) as consecutive chunks, up to max_reads in
// flight, each into its own slice of `ring` (max_reads chunks). Cold: the file's pages are
// dropped first.
StatusOr<ReaderSweepPoint> MeasureReader(const std::string& path, uint64_t from, uint64_t bytes,
                                         const DiskSweepOptions& o, int queue_depth,
                                         size_t block_bytes, std::byte* ring) {
  ReaderOptions ro;
  ro.queue_depth = queue_depth;
  ro.block_bytes = block_bytes;
  ro.max_reads = o.max_reads;
  STRATA_RETURN_IF_ERROR(EvictFilePages(path));
  // `ring` outlives the reader, whose destructor waits for blocks still landing after an error.
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<ExtentReader> reader, ExtentReader::Open(path, ro));
  std::vector<uint64_t> free_slots;  // ring slices not being read into
  for (int s = o.max_reads - 1; s >= 0; --s) free_slots.push_back(static_cast<uint64_t>(s));

  const Clock::time_point start = Clock::now();
  uint64_t next = 0;
  while (next < bytes || reader->pending() > 0) {
    while (next < bytes && !free_slots.empty()) {
      const uint64_t slot = free_slots.back();
      free_slots.pop_back();
      const size_t len = static_cast<size_t>(std::min<uint64_t>(o.chunk_bytes, bytes - next));
      STRATA_RETURN_IF_ERROR(
          reader->Submit(slot, from + next, len, ring + slot * o.chunk_bytes));
      next += len;
    }
    const ReadCompletion done = reader->WaitAny();
    STRATA_RETURN_IF_ERROR(done.status);
    free_slots.push_back(done.tag);
  }
  ReaderSweepPoint point;
  point.gbps = GBps(bytes, start);
  point.queue_depth = queue_depth;
  point.block_bytes = block_bytes;
  point.path_kind = std::string(reader->path_kind());
  point.fallback_reason = reader->fallback_reason();
  return point;
}

// A sequential buffered read of [from, from + bytes) in `block` preads through `buf`.
StatusOr<double> MeasureBuffered(const std::string& path, uint64_t from, uint64_t bytes,
                                 size_t block, std::byte* buf) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  const Clock::time_point start = Clock::now();
  for (uint64_t off = 0; off < bytes;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(block, bytes - off));
    const ssize_t got = ::pread(fd, buf, want, static_cast<off_t>(from + off));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = got < 0 ? errno : 0;
      ::close(fd);
      if (err == 0) return DataLoss(path + " ended at " + std::to_string(off) + " while read");
      return ErrnoError("buffered read failed at offset " + std::to_string(off) + " of", path,
                        err);
    }
    off += static_cast<uint64_t>(got);
  }
  const double gbps = GBps(bytes, start);
  ::close(fd);
  return gbps;
}

}  // namespace

double DiskSweepResult::best_gbps() const { return std::max(best().gbps, buffered_cold_gbps); }

bool DiskSweepResult::best_is_reader() const { return best().gbps >= buffered_cold_gbps; }

StatusOr<DiskSweepResult> RunDiskSweep(const std::string& path, uint64_t bytes,
                                       const DiskSweepOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidateOptions(options));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoError("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + " is not a regular file");
  DiskSweepResult r;
  r.path = path;
  r.file_bytes = static_cast<uint64_t>(st.st_size);
  r.options = options;
  r.bytes = bytes / kDirectIoAlignment * kDirectIoAlignment;  // O_DIRECT reads whole 4096-byte blocks
  if (r.bytes == 0 || bytes > r.file_bytes) {
    return InvalidArgument("disk sweep of " + std::to_string(bytes) + " bytes of " + path +
                           ": needs at least 4096 bytes and at most the file's " +
                           std::to_string(r.file_bytes));
  }

  // Each cold measurement reads the next window of the file, wrapping around at its end, so
  // that a cache below the page cache (a virtual disk's host, a controller) serves no re-read
  // while the file lasts.
  uint64_t cursor = 0;
  const auto next_window = [&] {
    if (cursor + r.bytes > r.file_bytes) cursor = 0;
    const uint64_t from = cursor;
    cursor += r.bytes;
    return from;
  };
  const size_t ring_bytes = options.chunk_bytes * static_cast<size_t>(options.max_reads);
  STRATA_ASSIGN_OR_RETURN(AlignedBuffer ring, AllocateTouched(ring_bytes, "the read ring"));
  for (int qd : options.queue_depths) {
    for (size_t block : options.block_bytes) {
      STRATA_ASSIGN_OR_RETURN(ReaderSweepPoint p, MeasureReader(path, next_window(), r.bytes,
                                                                options, qd, block, ring.get()));
      if (r.reader.empty() || p.gbps > r.best().gbps) r.best_reader = r.reader.size();
      r.reader.push_back(std::move(p));
    }
  }

  STRATA_ASSIGN_OR_RETURN(AlignedBuffer buf,
                          AllocateTouched(options.buffered_block_bytes, "the buffered read"));
  STRATA_RETURN_IF_ERROR(EvictFilePages(path));
  const uint64_t from = next_window();
  STRATA_ASSIGN_OR_RETURN(r.resident_before_cold, ResidentFraction(path, from + r.bytes));
  STRATA_ASSIGN_OR_RETURN(r.buffered_cold_gbps,
                          MeasureBuffered(path, from, r.bytes, options.buffered_block_bytes,
                                          buf.get()));
  STRATA_ASSIGN_OR_RETURN(r.buffered_warm_gbps,
                          MeasureBuffered(path, from, r.bytes, options.buffered_block_bytes,
                                          buf.get()));
  return r;
}

}  // namespace strata
