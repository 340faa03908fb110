// Synthetic packs: the presets' shapes, a pack that opens and verifies, different bytes per
// layer, recognition for reuse, and the raw-read ceiling's errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "common/bench/raw_read.h"
#include "common/bench/synthetic_model.h"
#include "common/storage/mapped_pack.h"
#include "common/storage/pack.h"
#include "tests/support/temp_dir.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(SyntheticModel, PresetsHaveTheLlama31Shapes) {
  const ModelConfig c70 = *SyntheticConfig("llama-3.1-70b", 80);
  EXPECT_EQ(c70.hidden_size, 8192);
  EXPECT_EQ(c70.intermediate_size, 28672);
  EXPECT_EQ(c70.num_heads, 64);
  EXPECT_EQ(c70.num_kv_heads, 8);
  EXPECT_EQ(c70.head_dim, 128);
  EXPECT_EQ(c70.num_layers, 80);
  const ModelConfig c8 = *SyntheticConfig("llama-3.1-8b", 2);
  EXPECT_EQ(c8.hidden_size, 4096);
  EXPECT_EQ(c8.intermediate_size, 14336);
  EXPECT_FALSE(SyntheticConfig("gpt-2", 2).has_value());
}

TEST(SyntheticModel, WritesAPackThatOpensVerifiesAndIsRecognised) {
  TempDir dir("synthetic");
  const ModelConfig config = *SyntheticConfig("tiny", 3);
  for (PackDType dtype : {PackDType::kBF16, PackDType::kFP8}) {
    const std::string out = dir.File(std::string(PackDTypeName(dtype)));
    StatusOr<PackResult> written = WriteSyntheticPack(config, "tiny", dtype, out, 7);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    EXPECT_EQ(written->num_layers, 3);
    StatusOr<Pack> pack = Pack::Open(out);
    ASSERT_TRUE(pack.ok()) << pack.status().ToString();
    EXPECT_EQ(pack->source(), "synthetic:tiny");
    StatusOr<MappedPack> mapped = MappedPack::Open(out);  // verifies every checksum
    ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
    // Layers hold different bytes (a benchmark must not read the same data twice).
    EXPECT_NE(pack->layer_extent(0).xxh3, pack->layer_extent(1).xxh3);
    EXPECT_TRUE(IsSyntheticPack(out, "tiny", config, dtype));
    EXPECT_FALSE(IsSyntheticPack(out, "llama-3.1-8b", config, dtype));
    EXPECT_FALSE(IsSyntheticPack(out, "tiny", *SyntheticConfig("tiny", 2), dtype));
  }
  EXPECT_FALSE(IsSyntheticPack(dir.File("bf16"), "tiny", config, PackDType::kFP8));
  EXPECT_FALSE(IsSyntheticPack(dir.File("missing"), "tiny", config, PackDType::kBF16));
}

TEST(RawRead, ReadsTheRangeAndReportsErrors) {
  TempDir dir("rawread");
  const std::string path = dir.File("data");
  {
    std::ofstream f(path, std::ios::binary);
    const std::vector<char> bytes(size_t{1} << 20, 'x');
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  for (int threads : {1, 3}) {
    StatusOr<RawReadResult> r = MeasureRawRead(path, 4096, (size_t{1} << 20) - 8192, threads, 65536);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(r->gbps, 0);
    EXPECT_EQ(r->threads, threads);
  }
  StatusOr<RawReadResult> past_end = MeasureRawRead(path, 0, size_t{2} << 20, 1, 65536);
  ASSERT_FALSE(past_end.ok());
  EXPECT_THAT(past_end.status().message(), HasSubstr(path));
  EXPECT_FALSE(MeasureRawRead(path, 100, 4096, 1, 4096).ok());  // unaligned
  EXPECT_FALSE(MeasureRawRead(dir.File("absent"), 0, 4096, 1, 4096).ok());
}

}  // namespace
}  // namespace strata
