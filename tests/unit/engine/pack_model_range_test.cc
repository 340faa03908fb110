// PackModel over a range of a pack's layers (a pipeline stage's slice): the model has that
// many layers, streams exactly their extents (a corrupt layer outside the range is never
// read), and a range outside the pack is refused with a message naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/pack_model.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "tests/support/layer_homes.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/stage_chain.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

TEST(PackModelRange, RunsOnlyItsSliceOfLayers) {
  TempDir dir("pack_range");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  // Corrupt layer 0's first byte: a slice that starts later must never read it.
  const Pack pack = *Pack::Open(po.out_dir);
  {
    std::fstream f(pack.data_path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(pack.layer_extent(0).offset));
    f.put('\x7f');
  }
  CpuBackend backend;
  PackModelOptions o = AllOnGpu(3, 2);
  o.streaming.homes = {{Tier::kPinned, 0, 0}, {Tier::kSsd, 0, 8192}};
  o.streaming.verify_streamed = true;
  o.engine.max_batch_tokens = 16;
  o.engine.max_seq_len = 16;
  StatusOr<std::unique_ptr<PackModel>> m = PackModel::Open(backend, po.out_dir, o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->first_layer(), 3);
  EXPECT_EQ((*m)->model().config().num_layers, 2);
  const int32_t slot = *(*m)->model().kv_cache().Acquire();
  BatchLayout batch;
  const int32_t ids[3] = {128000, 791, 6864};
  batch.Add(slot, 0, ids, 3);
  // A middle stage: no embedding, no head; activations in, activations out.
  std::vector<float> logits;
  Status no_embed = (*m)->model().Forward(batch, LogitsMode::kLastToken, &logits);
  EXPECT_THAT(no_embed.message(), HasSubstr("has no embedding"));
  const std::vector<float> in(3 * 64, 0.25f);
  std::vector<float> out(in.size());
  Status st = (*m)->model().ForwardStage(batch, in, out.data(), LogitsMode::kLastToken, nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ((*m)->executor().last_pass().layers.size(), 2u);
  EXPECT_NE(out, in);

  // The whole pack reads layer 0 and finds it corrupt.
  o = AllOnGpu(0, 6);
  StatusOr<std::unique_ptr<PackModel>> whole = PackModel::Open(backend, po.out_dir, o);
  ASSERT_FALSE(whole.ok());
  EXPECT_THAT(whole.status().message(), HasSubstr("layer.0"));
}

// Stages chained through host memory, and through "device" memory (the path of NCCL links,
// which on the CPU backend is host memory again, without the synchronising copies).
TEST(PackModelRange, StagesChainedGiveTheWholeModelsLogits) {
  TempDir dir("pack_stages");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  CpuBackend backend;
  for (ActivationMemory memory : {ActivationMemory::kHost, ActivationMemory::kDevice}) {
    SCOPED_TRACE(memory == ActivationMemory::kHost ? "host" : "device");
    ExpectChainedStagesGiveTheWholeModelsLogits(backend, memory, po.out_dir);
  }
}

TEST(PackModelRange, RefusesARangeOutsideThePack) {
  TempDir dir("pack_range_bad");
  PackOptions po;
  po.model_dir = TinyModelDir();
  po.out_dir = dir.File("pack");
  ASSERT_TRUE(WritePack(po).ok());
  CpuBackend backend;
  PackModelOptions o;
  o.first_layer = 5;
  o.num_layers = 2;
  StatusOr<std::unique_ptr<PackModel>> m = PackModel::Open(backend, po.out_dir, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(m.status().message(), HasSubstr("layer range [5, 7) is not inside the 6 layers"));
}

}  // namespace
}  // namespace strata::testing
