// Pinned buffers are 4 KiB-aligned at every size (O_DIRECT reads land in them directly),
// including the small ones a pooled allocator would place at sub-page offsets.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "common/backend/backend_factory.h"

namespace strata {
namespace {

TEST(CudaPinned, EveryAllocationIsPageAligned) {
  StatusOr<std::unique_ptr<Backend>> backend = CreateBackend("cuda");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  std::vector<DeviceBuffer> held;
  for (size_t bytes : {size_t{1}, size_t{512}, size_t{4096}, size_t{16384}, size_t{100000},
                       size_t{1} << 20, size_t{16384}, size_t{8192}}) {
    StatusOr<DeviceBuffer> b = (*backend)->AllocatePinned(bytes);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->get()) % 4096, 0u) << bytes << " bytes";
    held.push_back(std::move(*b));
  }
}

}  // namespace
}  // namespace strata
