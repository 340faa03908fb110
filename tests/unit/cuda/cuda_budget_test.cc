// The GPU budget is the whole process's: for several budgets a pack of Llama 3.1 8B-shape
// layers (six, bf16, random weights) is placed by the placement rules and run, and the device
// memory this process holds — as the CUDA runtime reports it — stays inside the budget and
// near the placement's prediction, while every budget gives the same greedy tokens. Needs a
// GPU: labelled `gpu`.
#include <gtest/gtest.h>

#include <vector>

#include "common/bench/synthetic_model.h"
#include "common/engine/generator.h"
#include "common/engine/pack_placement.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
// What the runtime may hold beyond the prediction (its own bookkeeping).
constexpr size_t kTolerance = 48 * kMiB;

TEST(CudaBudget, MeasuredDeviceMemoryStaysInsideEveryBudget) {
  TempDir dir("cuda_budget");
  const ModelConfig config = *SyntheticConfig("llama-3.1-8b", 6);
  ASSERT_TRUE(WriteSyntheticPack(config, "llama-3.1-8b", PackDType::kBF16, dir.File("pack"), 7).ok());
  struct Budget {
    size_t gpu, pinned;
  };
  // From one GPU staging slot and a one-chunk ring up to every layer resident.
  const Budget budgets[] = {{900 * kMiB, 64 * kMiB},  {1200 * kMiB, 600 * kMiB},
                            {1600 * kMiB, 1200 * kMiB}, {2500 * kMiB, 200 * kMiB},
                            {4000 * kMiB, 64 * kMiB}};
  std::vector<int32_t> first_ids;
  for (const Budget& b : budgets) {
    SCOPED_TRACE("gpu " + std::to_string(b.gpu / kMiB) + " MiB, pinned " +
                 std::to_string(b.pinned / kMiB) + " MiB");
    std::unique_ptr<Backend> gpu = MakeCudaBackend();
    ASSERT_NE(gpu, nullptr);
    PackPlacementRequest r;
    r.gpu_mem = b.gpu;
    r.pinned_mem = b.pinned;
    r.engine.max_batch_tokens = 64;
    r.engine.max_seq_len = 64;
    StatusOr<PackPlacement> placed = PlacePack(*gpu, dir.File("pack"), r);
    ASSERT_TRUE(placed.ok()) << placed.status().ToString();
    const Placement& p = placed->placement;
    EXPECT_LE(p.gpu.total(), b.gpu);
    EXPECT_LE(p.pinned.total(), b.pinned);
    StatusOr<std::unique_ptr<PackModel>> model =
        PackModel::Open(*gpu, dir.File("pack"), placed->options);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    GenerateOptions g;
    g.max_tokens = 6;
    const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8};
    StatusOr<GenerateResult> out = Generate((*model)->model(), prompt, g);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const size_t measured = gpu->DeviceBytesInUse();
    std::printf("budget gpu %zu MiB pinned %zu MiB: %d gpu / %d pinned / %d ssd layers, "
                "predicted %zu MiB, measured %zu MiB\n",
                b.gpu / kMiB, b.pinned / kMiB, p.gpu_layers, p.pinned_layers, p.ssd_layers(),
                p.gpu.total() / kMiB, measured / kMiB);
    EXPECT_LE(measured, b.gpu);
    EXPECT_LE(measured, p.gpu.total() + kTolerance);
    if (first_ids.empty()) first_ids = out->output_ids;
    EXPECT_EQ(out->output_ids, first_ids);
  }
}

}  // namespace
}  // namespace strata::testing
