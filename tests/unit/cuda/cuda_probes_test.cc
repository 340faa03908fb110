// The CUDA backend's benchmark ceilings measure something plausible: a read bandwidth and
// GEMM throughputs above zero and below the hardware's physical bounds, and an error (not a
// crash) for an impossible request.
#include <gtest/gtest.h>

#include "common/backend/backend_factory.h"

namespace strata {
namespace {

TEST(CudaProbes, ReadBandwidthAndGemmThroughputArePlausible) {
  StatusOr<std::unique_ptr<Backend>> backend = CreateBackend("cuda");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  StatusOr<double> read = (*backend)->ProbeReadGBps(size_t{256} << 20, 3);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_GT(*read, 50.0);
  EXPECT_LT(*read, 20000.0);
  for (DType dtype : {DType::kBF16, DType::kF8E4M3}) {
    StatusOr<double> tf = (*backend)->ProbeGemmTflops(dtype, 1024, 4096, 4096, 3);
    ASSERT_TRUE(tf.ok()) << tf.status().ToString();
    EXPECT_GT(*tf, 1.0) << DTypeName(dtype);
    EXPECT_LT(*tf, 10000.0) << DTypeName(dtype);
  }
  EXPECT_FALSE((*backend)->ProbeReadGBps(16, 1).ok());
  EXPECT_FALSE((*backend)->ProbeGemmTflops(DType::kBF16, 0, 1, 1, 1).ok());
}

}  // namespace
}  // namespace strata
