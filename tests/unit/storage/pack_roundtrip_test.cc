// Packs written from checkpoints and read back: the bf16 fixture bit-exact with an aligned,
// contiguous, checksummed layout and the manifest's fields; fp8 within e4m3 precision with
// positive per-row scales; int4 exactly the round-to-nearest groups of the source, and a
// group size that does not fit refused; a tied synthetic F32/F16 model (its own lm_head extent, round to
// nearest even); and views bound over an extent read into a separate buffer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/model/checkpoint.h"
#include "common/model/int4_weights.h"
#include "common/model/llama_weights.h"
#include "common/storage/extent_reader.h"
#include "common/storage/mapped_pack.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "tests/unit/model/model_test_util.h"
#include "tests/unit/storage/storage_test_util.h"

namespace strata {
namespace {

using testing::FixturePack;
using ::testing::HasSubstr;
using testing::SmallPack;
using testing::TempDir;
using testing::TinyModelDir;
using Json = nlohmann::json;

struct Loaded {
  Checkpoint checkpoint;
  LlamaWeights weights;
};

Loaded LoadFixture(const std::string& dir) {
  StatusOr<Checkpoint> c = Checkpoint::Open(dir);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  StatusOr<LlamaWeights> w = BindLlamaWeights(*c);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return {std::move(c).value(), std::move(w).value()};
}

void ExpectSameBytes(const WeightView& packed, const WeightView& source, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(packed.dtype, DType::kBF16);
  ASSERT_EQ(source.dtype, DType::kBF16);
  ASSERT_EQ(packed.rows, source.rows);
  ASSERT_EQ(packed.cols, source.cols);
  EXPECT_EQ(packed.scales, nullptr);
  EXPECT_EQ(std::memcmp(packed.data, source.data, source.nbytes()), 0);
}

// `packed` keeps the source's embedding, head and norms byte for byte; `check(packed, source)`
// runs for each quantized projection, traced with its layer and name.
template <typename Check>
void ForEachProjection(const LlamaWeights& packed, const LlamaWeights& source, Check check) {
  ExpectSameBytes(packed.embed, source.embed, "embed");
  ExpectSameBytes(packed.lm_head, source.lm_head, "lm_head");
  ExpectSameBytes(packed.final_norm, source.final_norm, "final_norm");
  for (size_t i = 0; i < packed.layers.size(); ++i) {
    for (const LayerField& f : kLayerFields) {
      const WeightView& q = packed.layers[i].*f.member;
      const WeightView& orig = source.layers[i].*f.member;
      const std::string what = "layer " + std::to_string(i) + " " + std::string(f.name);
      if (!f.projection) {
        ExpectSameBytes(q, orig, what);
        continue;
      }
      SCOPED_TRACE(what);
      check(q, orig);
    }
  }
}

TEST(PackRoundTrip, Bf16FixtureIsBitExactAlignedAndChecksummed) {
  const std::string& dir = FixturePack(PackDType::kBF16);
  StatusOr<MappedPack> mapped = MappedPack::Open(dir);
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  const Pack& pack = mapped->pack();
  Loaded src = LoadFixture(TinyModelDir());
  EXPECT_EQ(ModelConfigToJson(pack.config()), ModelConfigToJson(src.checkpoint.config()));
  EXPECT_EQ(pack.dtype(), PackDType::kBF16);

  const LlamaWeights& w = mapped->weights();
  ExpectSameBytes(w.embed, src.weights.embed, "embed");
  ExpectSameBytes(w.final_norm, src.weights.final_norm, "final_norm");
  ExpectSameBytes(w.lm_head, src.weights.lm_head, "lm_head");
  ASSERT_EQ(w.layers.size(), 6u);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    for (const LayerField& f : kLayerFields) {
      ExpectSameBytes(w.layers[i].*f.member, src.weights.layers[i].*f.member,
                      "layer " + std::to_string(i) + " " + std::string(f.name));
    }
  }

  // Layout: canonical order, back to back, everything aligned, padding zero, checksums over
  // whole extents (computed here independently of Pack).
  const std::string data = testing::ReadBytes(pack.data_path());
  ASSERT_EQ(data.size(), pack.data_bytes());
  std::vector<std::string> names;
  uint64_t next = 0;
  for (const PackExtent& e : pack.extents()) {
    SCOPED_TRACE(e.name);
    names.push_back(e.name);
    EXPECT_EQ(e.offset, next);
    EXPECT_EQ(e.offset % 4096, 0u);
    EXPECT_EQ(e.bytes % 4096, 0u);
    next = e.offset + e.bytes;
    EXPECT_EQ(XXH3_64bits(data.data() + e.offset, e.bytes), e.xxh3);
    std::vector<bool> used(e.bytes, false);
    for (const PackTensor& t : e.tensors) {
      EXPECT_EQ(t.offset % 4096, 0u) << t.name;
      for (uint64_t b = t.offset; b < t.offset + t.bytes; ++b) used[b] = true;
    }
    for (uint64_t b = 0; b < e.bytes; ++b) {
      if (!used[b]) {
        ASSERT_EQ(data[e.offset + b], '\0') << "padding byte " << b;
      }
    }
  }
  EXPECT_EQ(next, pack.data_bytes());
  EXPECT_THAT(names, ::testing::ElementsAre("embed", "layer.0", "layer.1", "layer.2", "layer.3",
                                            "layer.4", "layer.5", "final_norm", "lm_head"));

  const Json m = Json::parse(testing::ReadBytes(dir + "/manifest.json"));
  EXPECT_EQ(m["format"], "strata-pack");
  EXPECT_EQ(m["version"], 1);
  EXPECT_EQ(m["dtype"], "bf16");
  EXPECT_EQ(m["data_file"], "weights.bin");
  EXPECT_EQ(m["data_bytes"], data.size());
  EXPECT_EQ(m["alignment"], 4096);
  EXPECT_EQ(m["source"], std::filesystem::absolute(TinyModelDir()).lexically_normal().string());
  EXPECT_EQ(m["config"]["num_hidden_layers"], 6);
  const Json& layer2 = m["extents"][3];
  EXPECT_EQ(layer2["name"], "layer.2");
  EXPECT_THAT(layer2["xxh3"].get<std::string>(), ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(layer2["tensors"][1]["name"], "wq");
  EXPECT_EQ(layer2["tensors"][1]["dtype"], "BF16");
  EXPECT_EQ(layer2["tensors"][1]["shape"], Json({64, 64}));
  EXPECT_FALSE(layer2["tensors"][1].contains("scales_offset"));

  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    EXPECT_EQ(testing::ReadBytes(dir + "/" + name), testing::ReadBytes(TinyModelDir() + "/" + name))
        << name;
  }
}

TEST(PackRoundTrip, Fp8ProjectionsAreWithinE4M3PrecisionWithPositiveScales) {
  StatusOr<MappedPack> mapped = MappedPack::Open(FixturePack(PackDType::kFP8));
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  EXPECT_EQ(mapped->pack().dtype(), PackDType::kFP8);
  Loaded src = LoadFixture(TinyModelDir());
  const auto check = [](const WeightView& q, const WeightView& orig) {
    ASSERT_EQ(q.dtype, DType::kF8E4M3);
    ASSERT_NE(q.scales, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(q.scales) % 4096, 0u);
    ASSERT_EQ(q.rows, orig.rows);
    ASSERT_EQ(q.cols, orig.cols);
    std::vector<float> row(static_cast<size_t>(orig.cols));
    for (int64_t r = 0; r < q.rows; ++r) {
      ConvertToFloat(orig.data + r * orig.cols * 2, DType::kBF16, row.data(), row.size());
      float max_abs = 0;
      for (float v : row) max_abs = std::max(max_abs, std::fabs(v));
      const float scale = q.scales[r];
      ASSERT_GT(scale, 0.0f);
      EXPECT_FLOAT_EQ(scale, max_abs > 0 ? max_abs / 448.0f : 1.0f);
      for (int64_t c = 0; c < q.cols; ++c) {
        const auto code = static_cast<uint8_t>(q.data[r * q.cols + c]);
        const float deq = F8E4M3ToFloat(code) * scale;
        const float want = row[static_cast<size_t>(c)];
        // The stated bound, then e4m3's own: half an ulp (2^-4 relative) for normals, half
        // the subnormal step (2^-10 of the scale) below them.
        ASSERT_LE(std::fabs(deq - want), 0x1p-3f * max_abs) << r << "," << c;
        ASSERT_LE(std::fabs(deq - want),
                  std::max(0x1p-4f * std::fabs(want), 0x1p-10f * scale) * 1.0001f)
            << r << "," << c;
      }
    }
  };
  ForEachProjection(mapped->weights(), src.weights, check);
  const PackTensor& wq = mapped->pack().layer_extent(0).tensors[1];
  ASSERT_TRUE(wq.scales_offset.has_value());
  EXPECT_EQ(*wq.scales_offset % 4096, 0u);
  EXPECT_GE(*wq.scales_offset, wq.offset + wq.bytes);
}

TEST(PackRoundTrip, Int4ProjectionsAreTheirGroupsRoundToNearestOfTheSource) {
  StatusOr<MappedPack> mapped = MappedPack::Open(FixturePack(PackDType::kInt4));
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  EXPECT_EQ(mapped->pack().dtype(), PackDType::kInt4);
  Loaded src = LoadFixture(TinyModelDir());
  const auto check = [](const WeightView& q, const WeightView& orig) {
    ASSERT_EQ(q.dtype, DType::kU4);
    ASSERT_EQ(q.group_size, testing::kTestInt4GroupSize);
    ASSERT_NE(q.group_scales, nullptr);
    ASSERT_NE(q.group_zeros, nullptr);
    EXPECT_EQ(q.scales, nullptr);
    EXPECT_EQ(q.col_perm, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(q.group_scales) % 4096, 0u);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(q.group_zeros) % 4096, 0u);
    ASSERT_EQ(q.rows, orig.rows);
    ASSERT_EQ(q.cols, orig.cols);
    // The writer's codes, scales and zeros are QuantizeRowU4 of the bf16 row, bit for bit.
    const auto cols = static_cast<size_t>(orig.cols);
    const auto groups = static_cast<size_t>(q.groups_per_row());
    std::vector<float> row(cols);
    std::vector<uint8_t> codes(cols / 2);
    std::vector<uint16_t> scales(groups), zeros(groups);
    for (int64_t r = 0; r < q.rows; ++r) {
      ConvertToFloat(orig.data + r * orig.cols * 2, DType::kBF16, row.data(), cols);
      ASSERT_EQ(QuantizeRowU4(row.data(), orig.cols, q.group_size, codes.data(), scales.data(),
                              zeros.data()),
                std::nullopt);
      ASSERT_EQ(std::memcmp(codes.data(), q.data + r * orig.cols / 2, codes.size()), 0) << r;
      ASSERT_EQ(std::memcmp(scales.data(), q.group_scales + r * q.groups_per_row(), groups * 2), 0);
      ASSERT_EQ(std::memcmp(zeros.data(), q.group_zeros + r * q.groups_per_row(), groups * 2), 0);
    }
  };
  ForEachProjection(mapped->weights(), src.weights, check);
  const PackTensor& wq = mapped->pack().layer_extent(0).tensors[1];
  ASSERT_TRUE(wq.scales_offset.has_value() && wq.zeros_offset.has_value());
  EXPECT_EQ(wq.bytes, static_cast<uint64_t>(wq.rows * wq.cols / 2));
  EXPECT_GE(*wq.scales_offset, wq.offset + wq.bytes);
  EXPECT_GE(*wq.zeros_offset, *wq.scales_offset + wq.scales_bytes());
  const Json manifest = Json::parse(testing::ReadBytes(FixturePack(PackDType::kInt4) + "/manifest.json"));
  EXPECT_EQ(manifest["dtype"], "int4");
  const Json& tensor = manifest["extents"][1]["tensors"][1];
  EXPECT_EQ(tensor["dtype"], "U4");
  EXPECT_EQ(tensor["group_size"], testing::kTestInt4GroupSize);
}

TEST(PackRoundTrip, AnInt4GroupSizeThatDoesNotCutTheRowsIsRefusedNamingTheTensor) {
  TempDir dir("int4_group");
  PackOptions o;
  o.model_dir = TinyModelDir();
  o.out_dir = dir.File("pack");
  o.dtype = PackDType::kInt4;
  o.group_size = 128;  // the fixture's projections have 64 or 192 input columns
  const StatusOr<PackResult> r = WritePack(o);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("layer.0.wq"));
  EXPECT_THAT(r.status().message(), HasSubstr("--group-size"));
}

// The tiny synthetic Llama of model_test_util.h with tied embeddings, some tensors F16.
std::vector<testing::SyntheticTensor> TiedMixedTensors() {
  std::vector<testing::SyntheticTensor> tensors = testing::TinyLlamaTensors(/*with_lm_head=*/false);
  for (testing::SyntheticTensor& t : tensors) {
    if (t.name.find("k_proj") == std::string::npos && t.name != "model.norm.weight") continue;
    const size_t n = t.data.size() / 4;
    std::string f16(n * 2, '\0');
    for (size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, t.data.data() + 4 * i, 4);
      const uint16_t h = FloatToF16(v * 0.37f);
      std::memcpy(f16.data() + 2 * i, &h, 2);
    }
    t.dtype = "F16";
    t.data = f16;
  }
  // A row of zeros in layer 0's q_proj: fp8 gives it scale 1.
  for (testing::SyntheticTensor& t : tensors) {
    if (t.name == "model.layers.0.self_attn.q_proj.weight")
      std::fill_n(t.data.begin(), 8 * 4, '\0');
  }
  return tensors;
}

// BF16 of every element of a checkpoint view, converted independently of the packer.
std::vector<uint16_t> ExpectedBf16(const WeightView& v) {
  std::vector<float> f(static_cast<size_t>(v.numel()));
  ConvertToFloat(v.data, v.dtype, f.data(), f.size());
  std::vector<uint16_t> out;
  for (float x : f) out.push_back(FloatToBF16(x));
  return out;
}

void ExpectBf16Of(const WeightView& packed, const WeightView& source, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(packed.dtype, DType::kBF16);
  ASSERT_EQ(packed.numel(), source.numel());
  const std::vector<uint16_t> want = ExpectedBf16(source);
  EXPECT_EQ(std::memcmp(packed.data, want.data(), want.size() * 2), 0);
}

TEST(PackRoundTrip, TiedF32F16ModelRoundsToBf16AndStoresItsOwnHead) {
  TempDir tmp("tied");
  nlohmann::json config = testing::TinyLlamaConfig();
  config["tie_word_embeddings"] = true;
  testing::WriteTinyLlama(tmp.path(), config, TiedMixedTensors());
  Loaded src = LoadFixture(tmp.path());
  for (PackDType dtype : {PackDType::kBF16, PackDType::kFP8}) {
    SCOPED_TRACE(std::string(PackDTypeName(dtype)));
    PackOptions o;
    o.model_dir = tmp.path();
    o.out_dir = tmp.File("pack_" + std::string(PackDTypeName(dtype)));
    o.dtype = dtype;
    o.buffer_bytes = 4096;  // many flushes, and tensors split across them
    StatusOr<PackResult> r = WritePack(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    StatusOr<MappedPack> mapped = MappedPack::Open(o.out_dir);
    ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
    EXPECT_TRUE(mapped->pack().config().tie_word_embeddings);
    const LlamaWeights& w = mapped->weights();
    ExpectBf16Of(w.embed, src.weights.embed, "embed");
    ExpectBf16Of(w.lm_head, src.weights.embed, "lm_head");
    EXPECT_NE(w.lm_head.data, w.embed.data);
    EXPECT_GT(mapped->pack().lm_head_extent().offset, mapped->pack().embed_extent().offset);
    ExpectBf16Of(w.final_norm, src.weights.final_norm, "final_norm (F16)");
    if (dtype == PackDType::kBF16) {
      ExpectBf16Of(w.layers[1].wk, src.weights.layers[1].wk, "wk (F16)");
      ExpectBf16Of(w.layers[1].w_down, src.weights.layers[1].w_down, "w_down (F32)");
    } else {
      EXPECT_EQ(w.layers[0].wq.scales[0], 1.0f);  // the zero row
      EXPECT_EQ(F8E4M3ToFloat(static_cast<uint8_t>(w.layers[0].wq.data[0])), 0.0f);
      EXPECT_GT(w.layers[0].wq.scales[1], 0.0f);
    }
  }
}

TEST(PackRoundTrip, BindsViewsOverAnExtentReadIntoAStagingBuffer) {
  StatusOr<Pack> pack = Pack::Open(SmallPack(PackDType::kFP8));
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  StatusOr<MappedPack> mapped = MappedPack::Open(SmallPack(PackDType::kFP8));
  ASSERT_TRUE(mapped.ok()) << mapped.status().ToString();
  auto reader = ExtentReader::Open(pack->data_path());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const PackExtent& e = pack->layer_extent(3);
  testing::AlignedBuffer slot(e.bytes);
  ASSERT_TRUE((*reader)->ReadSync(e.offset, e.bytes, slot.data()).ok());
  EXPECT_TRUE(pack->VerifyExtent(e, slot.data()).ok());
  StatusOr<LlamaLayerWeights> layer = pack->BindLayer(3, slot.data());
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  const LlamaLayerWeights& resident = mapped->weights().layers[3];
  for (const LayerField& f : kLayerFields) {
    SCOPED_TRACE(std::string(f.name));
    const WeightView& a = (*layer).*f.member;
    const WeightView& b = resident.*f.member;
    EXPECT_GE(a.data, slot.data());
    EXPECT_LE(a.data + a.nbytes(), slot.data() + e.bytes);
    ASSERT_EQ(a.nbytes(), b.nbytes());
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0);
    EXPECT_EQ(a.scales == nullptr, b.scales == nullptr);
    if (a.scales != nullptr) {
      EXPECT_EQ(std::memcmp(a.scales, b.scales, static_cast<size_t>(a.rows) * 4), 0);
    }
  }

  StatusOr<LlamaLayerWeights> bad = pack->BindLayer(4, slot.data());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("not layer 4"));
  EXPECT_EQ(pack->BindLmHead(nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
