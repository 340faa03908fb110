// `strata bench-disk`'s measurements: the best read bandwidth a file's disk gives, any way.
//
// * Our reader (ExtentReader, io_uring + O_DIRECT where allowed) over a grid of queue depths
//   and block sizes. Each configuration reads the range as consecutive chunks (16 MiB, the
//   streaming executor's read size) with up to `max_reads` chunk reads in flight, into a
//   ring of 4096-aligned host buffers (any host memory: no backend is needed).
// * A buffered sequential read (pread of `buffered_block_bytes` blocks, no O_DIRECT) after
//   dropping the file's cached pages (cold), then the same again at once (warm: the page
//   cache, not the disk).
// The file's pages are dropped before every cold measurement (page_cache.h: best effort),
// and the share still cached just before the cold buffered read is reported. Every cold
// measurement reads its own window of `bytes` (the next one, wrapping at the file's end), so
// a cache below the page cache — a virtual disk's host, a controller — cannot serve re-reads
// while the file lasts: measured on one VM, re-reading one window gave 2.2 GB/s where the
// layers' streaming saw 1.1 GB/s.
// Thread-safety: RunDiskSweep has no shared state; one call at a time per file gives
// meaningful numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace strata {

struct DiskSweepOptions {
  std::vector<int> queue_depths = {1, 4, 8, 16, 32, 64};  // ReaderOptions.queue_depth
  std::vector<size_t> block_bytes = {size_t{256} << 10, size_t{1} << 20, size_t{4} << 20,
                                     size_t{16} << 20};   // ReaderOptions.block_bytes
  size_t chunk_bytes = size_t{16} << 20;  // one Submit; a multiple of 4096
  int max_reads = 8;                      // chunk reads in flight (and ReaderOptions.max_reads)
  size_t buffered_block_bytes = size_t{4} << 20;
};

// One reader configuration's run over the whole range.
struct ReaderSweepPoint {
  int queue_depth = 0;
  size_t block_bytes = 0;
  double gbps = 0;         // 1e9 bytes per second
  std::string path_kind;   // ExtentReader::path_kind(): shows a fallback
  std::string fallback_reason;
};

struct DiskSweepResult {
  std::string path;
  uint64_t file_bytes = 0;
  uint64_t bytes = 0;  // measured by every run: the range asked for, rounded down to 4096
  DiskSweepOptions options;
  std::vector<ReaderSweepPoint> reader;  // queue depth major, in the options' order
  size_t best_reader = 0;                // index of the fastest in `reader`
  double buffered_cold_gbps = 0;
  double buffered_warm_gbps = 0;
  double resident_before_cold = 0;  // share of the file up to the end of the cold read's
                                    // window cached when it began

  const ReaderSweepPoint& best() const { return reader[best_reader]; }
  // The disk's best: the fastest cold figure, our reader's best or the cold buffered read
  // (the warm read is the page cache and does not count).
  double best_gbps() const;
  bool best_is_reader() const;
};

// Measures windows of `bytes` bytes of `path`. Errors: options out of range, fewer than 4096 bytes, or a
// range past the end of the file (kInvalidArgument); the file's and the reader's errors.
StatusOr<DiskSweepResult> RunDiskSweep(const std::string& path, uint64_t bytes,
                                       const DiskSweepOptions& options = {});

}  // namespace strata
