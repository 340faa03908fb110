// Pipeline stages on the CUDA backend: two stages of the fixture's pack chained through device
// memory (the path of the NCCL links: ForwardStage with ActivationMemory::kDevice copies on the
// GPU and does not synchronise) and through host memory (the UCX links' path) give the whole
// model's logits on the same backend bit for bit. Needs a GPU: labelled `gpu`.
#include <gtest/gtest.h>

#include "common/storage/pack_writer.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/stage_chain.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

TEST(CudaStages, ChainedThroughDeviceOrHostMemoryGiveTheWholeModelsLogits) {
  std::unique_ptr<Backend> gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  TempDir dir("cuda_stages");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  for (ActivationMemory memory : {ActivationMemory::kDevice, ActivationMemory::kHost}) {
    SCOPED_TRACE(memory == ActivationMemory::kHost ? "host" : "device");
    ExpectChainedStagesGiveTheWholeModelsLogits(*gpu, memory, po.out_dir);
  }
}

}  // namespace
}  // namespace strata::testing
