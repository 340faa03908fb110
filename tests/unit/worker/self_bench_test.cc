// The worker's start-up self-benchmark on the fixture pack (CPU backend): every figure the
// planner needs is positive, the prefill chunk is one of the measured sizes, and a smaller
// chunk is reported only when the next size was not tried because this one was slow; budgets
// left at 0 are registered as their defaults, never as 0 (a GPU worker once told the planner
// it had no pinned memory and no plan fitted).
#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/pack_placement.h"
#include "common/storage/pack_writer.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"
#include "worker/self_bench.h"

namespace strata::worker {
namespace {

// The fixture packed into `dir`; its directory.
std::string FixturePack(const testing::TempDir& dir) {
  PackOptions o;
  o.model_dir = testing::TinyModelDir();
  o.out_dir = dir.File("pack");
  EXPECT_TRUE(WritePack(o).ok());
  return o.out_dir;
}

TEST(SelfBench, MeasuresEveryFigureThePlannerUses) {
  testing::TempDir dir("self-bench");
  CpuBackend backend;
  StatusOr<control::v1::Capabilities> caps =
      MeasureCapabilities(backend, FixturePack(dir), 0, 1 << 20);
  ASSERT_TRUE(caps.ok()) << caps.status().ToString();
  EXPECT_EQ(caps->backend(), "cpu");
  EXPECT_EQ(caps->gpu_bytes(), 0u);
  EXPECT_EQ(caps->pinned_bytes(), 1u << 20);
  EXPECT_GT(caps->decode_ms_per_layer(), 0);
  EXPECT_GT(caps->prefill_ms_per_layer(), 0);
  EXPECT_GT(caps->ssd_gbps(), 0);
  EXPECT_GT(caps->h2d_gbps(), 0);
  const int32_t tokens = caps->prefill_tokens();
  EXPECT_TRUE(tokens == 64 || tokens == 512 || tokens == 2048) << tokens;
  if (tokens < 2048) {
    EXPECT_GE(caps->prefill_ms_per_layer(), 40.0) << tokens;
  }
}

TEST(SelfBench, RegistersTheDefaultPinnedBudgetWhenNoneIsGiven) {
  testing::TempDir dir("self-bench-defaults");
  CpuBackend backend;
  StatusOr<control::v1::Capabilities> caps = MeasureCapabilities(backend, FixturePack(dir), 0, 0);
  ASSERT_TRUE(caps.ok()) << caps.status().ToString();
  // Half the host memory available, which moves a little between two readings.
  const double expected = static_cast<double>(ResolveBudgets(backend, 0, 0).pinned);
  EXPECT_GT(expected, 0);
  EXPECT_NEAR(static_cast<double>(caps->pinned_bytes()), expected, 0.1 * expected);
  EXPECT_EQ(caps->gpu_bytes(), 0u);  // the CPU backend: no GPU budget
}

}  // namespace
}  // namespace strata::worker
