// The worker's CUDA-only metrics on a real GPU: MeasureDeviceCeilings fills the device-memory
// read and GEMM ceilings with plausible figures, and WorkerMetrics exports them beside the
// GPU memory in use and the budget. Runs where a GPU
// answers (label gpu); the CPU suite covers the host-side metrics (tests/unit/worker).
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <string>

#include "common/backend/backend_factory.h"
#include "worker/worker_metrics.h"

namespace strata::worker {
namespace {

// The value of the sample `name{labels}` in a text exposition (labels as written), or -1.
double SampleValue(const std::string& text, const std::string& name_and_labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

TEST(WorkerDeviceMetrics, CeilingsAndGpuMemoryOfARealDevice) {
  StatusOr<std::unique_ptr<Backend>> backend = CreateBackend("cuda");
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  WorkerCeilings ceilings;
  ceilings.disk_read_gbps = 4.0;
  ceilings.h2d_gbps = 40.0;
  ASSERT_TRUE(MeasureDeviceCeilings(**backend, /*fp8_weights=*/false, ceilings).ok());
  ASSERT_TRUE(ceilings.hbm_read_gbps.has_value());
  ASSERT_TRUE(ceilings.gemm_tflops.has_value());
  EXPECT_GT(*ceilings.hbm_read_gbps, 50.0);
  EXPECT_LT(*ceilings.hbm_read_gbps, 20000.0);
  EXPECT_GT(*ceilings.gemm_tflops, 1.0);
  EXPECT_EQ(ceilings.gemm_dtype, "bf16");

  prometheus::Registry registry;
  const size_t budget = size_t{8} << 30;
  WorkerMetrics metrics(registry, "gpu-0", **backend, budget);
  metrics.SetCeilings(ceilings);
  auto render = [&] { return prometheus::TextSerializer().Serialize(registry.Collect()); };
  const std::string text = render();
  EXPECT_DOUBLE_EQ(SampleValue(text, R"(strata_worker_ceiling_bytes_per_second{worker="gpu-0",resource="hbm_read"})"),
                   *ceilings.hbm_read_gbps * 1e9);
  EXPECT_DOUBLE_EQ(SampleValue(text, R"(strata_worker_ceiling_flops{worker="gpu-0",dtype="bf16"})"),
                   *ceilings.gemm_tflops * 1e12);
  EXPECT_DOUBLE_EQ(SampleValue(text, R"(strata_worker_gpu_memory_bytes{worker="gpu-0",kind="budget"})"),
                   static_cast<double>(budget));
  EXPECT_GT(SampleValue(text, R"(strata_worker_gpu_memory_bytes{worker="gpu-0",kind="used"})"), 0);
}

}  // namespace
}  // namespace strata::worker
