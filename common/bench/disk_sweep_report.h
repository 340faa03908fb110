// Renders a DiskSweepResult (`strata bench-disk`): the text table and the --json document,
// and the one-line description of how the disk's best figure was obtained.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/bench/disk_sweep.h"

namespace strata {

// "ExtentReader io_uring+O_DIRECT, queue depth 8, 1 MiB blocks, 16 MiB chunks, 8 in flight"
// or "buffered pread, 4 MiB blocks, cold".
std::string DiskSweepBestHow(const DiskSweepResult& r);
std::string DiskSweepText(const DiskSweepResult& r);
nlohmann::json DiskSweepJson(const DiskSweepResult& r);

}  // namespace strata
