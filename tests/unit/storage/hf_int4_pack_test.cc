// Packs of Hugging Face AWQ/GPTQ checkpoints: the int4 arrays are the conversion's, byte for
// byte (codes, scales, zero points, act-order permutation at perm_offset), the checkpoint's
// group size is kept, other dtypes are refused, and the manifest's perm_offset is validated.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "common/model/hf_int4_weights.h"
#include "common/storage/mapped_pack.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "tests/support/hf_int4_writer.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using Method = HfQuantization::Method;

bool SameBytes(const void* a, const void* b, size_t n) { return std::memcmp(a, b, n) == 0; }

StatusOr<PackResult> PackModel(const std::string& model, const std::string& out, PackDType dtype) {
  PackOptions o;
  o.model_dir = model;
  o.out_dir = out;
  o.dtype = dtype;
  return WritePack(o);
}

void ExpectPackHoldsTheConversion(const HfInt4Spec& spec) {
  TempDir tmp;
  const std::string model = tmp.File("model"), out = tmp.File("pack");
  std::filesystem::create_directory(model);
  WriteHfInt4Checkpoint(model, spec);
  StatusOr<PackResult> r = PackModel(model, out, PackDType::kInt4);
  ASSERT_TRUE(r.ok()) << r.status().message();
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(model);
  ASSERT_TRUE(ckpt.ok());
  StatusOr<CheckpointWeights> want = LoadCheckpointWeights(*ckpt);
  ASSERT_TRUE(want.ok()) << want.status().message();
  StatusOr<MappedPack> pack = MappedPack::Open(out);
  ASSERT_TRUE(pack.ok()) << pack.status().message();
  for (size_t l = 0; l < want->weights.layers.size(); ++l) {
    for (const HfProjection& p : kHfProjections) {
      const WeightView a = want->weights.layers[l].*p.member;
      const WeightView b = pack->weights().layers[l].*p.member;
      SCOPED_TRACE("layer " + std::to_string(l) + " " + std::string(p.module));
      ASSERT_EQ(b.dtype, DType::kU4);
      EXPECT_EQ(b.group_size, a.group_size);
      EXPECT_TRUE(SameBytes(a.data, b.data, a.nbytes()));
      const size_t groups = static_cast<size_t>(a.rows * a.groups_per_row()) * sizeof(uint16_t);
      EXPECT_TRUE(SameBytes(a.group_scales, b.group_scales, groups));
      EXPECT_TRUE(SameBytes(a.group_zeros, b.group_zeros, groups));
      ASSERT_EQ(b.col_perm != nullptr, spec.act_order);
      if (a.col_perm != nullptr) {
        EXPECT_TRUE(SameBytes(a.col_perm, b.col_perm, static_cast<size_t>(a.cols) * sizeof(int32_t)));
      }
    }
  }
  for (const PackTensor& t : pack->pack().layer_extent(0).tensors) {
    EXPECT_EQ(t.perm_offset.has_value(), spec.act_order && t.dtype == DType::kU4) << t.name;
  }
}

TEST(HfInt4Pack, AwqPackHoldsTheConvertedArrays) { ExpectPackHoldsTheConversion({Method::kAwq, 32}); }

TEST(HfInt4Pack, GptqActOrderPackKeepsThePermutation) {
  ExpectPackHoldsTheConversion({Method::kGptq, 32, false, true, /*act_order=*/true});
}

TEST(HfInt4Pack, GroupPerRowBecomesEachProjectionsColumns) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  WriteHfInt4Checkpoint(tmp.File("m"), {Method::kGptq, kHfGroupPerRow, true, false});
  ASSERT_TRUE(PackModel(tmp.File("m"), tmp.File("p"), PackDType::kInt4).ok());
  StatusOr<Pack> pack = Pack::Open(tmp.File("p"));
  ASSERT_TRUE(pack.ok()) << pack.status().message();
  for (const PackTensor& t : pack->layer_extent(0).tensors) {
    if (t.dtype == DType::kU4) {
      EXPECT_EQ(t.group_size, t.cols) << t.name;
    }
  }
}

TEST(HfInt4Pack, OtherDtypesAreRefused) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  WriteHfInt4Checkpoint(tmp.File("m"), {Method::kAwq, 32});
  for (PackDType dtype : {PackDType::kBF16, PackDType::kFP8}) {
    StatusOr<PackResult> r = PackModel(tmp.File("m"), tmp.File("p"), dtype);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("is AWQ 4-bit, group 32; it packs only as int4"));
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.File("p")));
}

TEST(HfInt4Pack, ManifestPermOffsetIsValidated) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  WriteHfInt4Checkpoint(tmp.File("m"), {Method::kGptq, 32, false, true, true});
  ASSERT_TRUE(PackModel(tmp.File("m"), tmp.File("p"), PackDType::kInt4).ok());
  const std::string manifest = tmp.File("p/manifest.json");
  const std::string original = ReadFile(manifest);
  auto expect_refused = [&](auto edit, const std::string& needle) {
    WriteFile(manifest, original);
    EditJsonFile(manifest, [&](nlohmann::json& m) {
      for (nlohmann::json& e : m["extents"])
        if (e["name"] == "layer.1") edit(e["tensors"]);
    });
    StatusOr<Pack> p = Pack::Open(tmp.File("p"));
    ASSERT_FALSE(p.ok()) << needle;
    EXPECT_EQ(p.status().code(), StatusCode::kDataLoss);
    EXPECT_THAT(p.status().message(), HasSubstr(needle));
  };
  expect_refused([](nlohmann::json& t) { t[0]["perm_offset"] = 0; },  // attn_norm, BF16
                 "tensor attn_norm has a group_size, zeros_offset or perm_offset, which only U4");
  expect_refused([](nlohmann::json& t) { t[1]["perm_offset"] = t[1]["perm_offset"].get<uint64_t>() + 4; },
                 "tensor wq: permutation at offset");
  expect_refused([](nlohmann::json& t) { t[1]["perm_offset"] = t[1]["zeros_offset"]; },
                 "wq zero points and wq permutation overlap");
}

// The permutation's values index activations and rows: a pack whose permutation names a
// column twice or one out of range is refused when it opens, naming the tensor and entry.
TEST(HfInt4Pack, PermutationContentsAreValidatedAtOpen) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  WriteHfInt4Checkpoint(tmp.File("m"), {Method::kGptq, 32, false, true, true});
  ASSERT_TRUE(PackModel(tmp.File("m"), tmp.File("p"), PackDType::kInt4).ok());
  StatusOr<Pack> good = Pack::Open(tmp.File("p"));
  ASSERT_TRUE(good.ok()) << good.status().message();
  const PackExtent& layer = good->layer_extent(2);
  const PackTensor& wo = layer.tensors[4];
  ASSERT_EQ(wo.name, "wo");
  ASSERT_TRUE(wo.perm_offset.has_value());
  const std::string data = good->data_path();
  const uint64_t entry3 = layer.offset + *wo.perm_offset + 3 * sizeof(int32_t);
  auto write_entry = [&](int32_t value) {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(entry3));
    f.write(reinterpret_cast<const char*>(&value), sizeof value);
  };
  int32_t first = -1;  // entry 0's column, to repeat at entry 3
  {
    std::ifstream f(data, std::ios::binary);
    f.seekg(static_cast<std::streamoff>(layer.offset + *wo.perm_offset));
    f.read(reinterpret_cast<char*>(&first), sizeof first);
  }
  for (const auto& [value, needle] :
       {std::pair{int32_t{-1}, std::string("is -1, not an input column in [0, ")},
        std::pair{static_cast<int32_t>(wo.cols), std::to_string(wo.cols) + ", not an input column"},
        std::pair{first, std::string(", a column named twice")}}) {
    write_entry(value);
    StatusOr<Pack> p = Pack::Open(tmp.File("p"));
    ASSERT_FALSE(p.ok()) << value;
    EXPECT_EQ(p.status().code(), StatusCode::kDataLoss);
    EXPECT_THAT(p.status().message(), HasSubstr("layer.2.wo: permutation entry 3 is "));
    EXPECT_THAT(p.status().message(), HasSubstr(needle));
  }
}

}  // namespace
}  // namespace strata::testing
