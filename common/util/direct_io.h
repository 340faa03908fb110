// The one alignment of Strata's disk path: O_DIRECT reads need the buffer address, the file
// offset and the length to be multiples of the device's logical block (4096 bytes on the
// NVMe drives and filesystems Strata runs on), so a pack's extents and a layer's GPU-prefix
// split points are multiples of it, pinned staging buffers start on it, and every reader and
// probe checks against it. Thread-safety: a constant.
#pragma once

#include <cstddef>

namespace strata {

inline constexpr size_t kDirectIoAlignment = 4096;

}  // namespace strata
