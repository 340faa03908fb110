// The page cache's view of one file, for cold and warm read measurements: drop the file's
// cached pages (posix_fadvise POSIX_FADV_DONTNEED) and count how much of a range is still
// cached (mincore over a read-only map). Dropping is best effort: the kernel keeps dirty
// pages and may keep pages that another process has mapped or locked, so a measurement that
// must be cold checks ResidentFraction afterwards.
// Thread-safety: functions without shared state.
#pragma once

#include <cstdint>
#include <string>

#include "common/util/status.h"

namespace strata {

// Asks the kernel to drop every cached page of `path`. Errors name the path: cannot open,
// or fadvise refused (kFailedPrecondition).
Status EvictFilePages(const std::string& path);

// The fraction of the pages of [0, bytes) of `path` in the page cache, in [0, 1].
// `bytes` must not exceed the file's size (kInvalidArgument); 0 bytes gives 0.
StatusOr<double> ResidentFraction(const std::string& path, uint64_t bytes);

}  // namespace strata
