// Packs of Hugging Face AWQ/GPTQ checkpoints: the int4 arrays are the conversion's, byte for
// byte (codes, scales, zero points, act-order permutation at perm_offset), bound as the
// checkpoint binds them (one array per input, none for the identity, also in packs laid out
// before identity orders were left out), the checkpoint's group size is kept, other dtypes
// are refused, and the manifest's perm_offset is validated.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <numeric>

#include "common/model/hf_int4_weights.h"
#include "common/model/int4_weights.h"
#include "common/storage/mapped_pack.h"
#include "common/storage/pack.h"
#include "common/storage/pack_manifest.h"
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
      ASSERT_EQ(b.col_perm != nullptr, a.col_perm != nullptr);
      if (a.col_perm != nullptr) {
        EXPECT_TRUE(SameBytes(a.col_perm, b.col_perm, static_cast<size_t>(a.cols) * sizeof(int32_t)));
      }
      // The pack binds one array where the checkpoint's binding does.
      for (const HfProjection& o : kHfProjections) {
        EXPECT_EQ(a.col_perm == (want->weights.layers[l].*o.member).col_perm,
                  b.col_perm == (pack->weights().layers[l].*o.member).col_perm)
            << o.module;
      }
    }
  }
  // Stored: each projection's own permutation, none for the identity.
  for (const PackTensor& t : pack->pack().layer_extent(0).tensors) {
    EXPECT_EQ(t.perm_offset.has_value(),
              spec.act_order && t.dtype == DType::kU4 &&
                  !(t.name == "wo" && spec.identity_module == "self_attn.o_proj"))
        << t.name;
  }
}

TEST(HfInt4Pack, AwqPackHoldsTheConvertedArrays) { ExpectPackHoldsTheConversion({Method::kAwq, 32}); }

TEST(HfInt4Pack, GptqActOrderPackKeepsThePermutation) {
  ExpectPackHoldsTheConversion({Method::kGptq, 32, false, true, /*act_order=*/true});
  HfInt4Spec per_projection{Method::kGptq, 32, false, true, /*act_order=*/true};
  per_projection.order_per_input = false;
  ExpectPackHoldsTheConversion(per_projection);
}

// One order per input (as GPTQ makes them): q, k and v each store their array, and bind one
// (so the CUDA backend groups them into one GEMV), gate and up likewise; an identity order is
// stored as none.
TEST(HfInt4Pack, ActOrderPackBindsOneArrayPerInputAndStoresNoIdentity) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  HfInt4Spec spec{Method::kGptq, 32, false, true, /*act_order=*/true};
  spec.identity_module = "self_attn.o_proj";
  ExpectPackHoldsTheConversion(spec);
  WriteHfInt4Checkpoint(tmp.File("m"), spec);
  ASSERT_TRUE(PackModel(tmp.File("m"), tmp.File("p"), PackDType::kInt4).ok());
  StatusOr<MappedPack> pack = MappedPack::Open(tmp.File("p"));
  ASSERT_TRUE(pack.ok()) << pack.status().message();
  for (size_t i = 0; i < pack->weights().layers.size(); ++i) {
    const LlamaLayerWeights& l = pack->weights().layers[i];
    EXPECT_NE(l.wq.col_perm, nullptr);
    EXPECT_EQ(l.wk.col_perm, l.wq.col_perm);
    EXPECT_EQ(l.wv.col_perm, l.wq.col_perm);
    EXPECT_EQ(l.wo.col_perm, nullptr);
    EXPECT_NE(l.w_gate.col_perm, nullptr);
    EXPECT_EQ(l.w_up.col_perm, l.w_gate.col_perm);
    EXPECT_NE(l.w_down.col_perm, nullptr);
    EXPECT_NE(l.w_down.col_perm, l.w_gate.col_perm);
    const std::vector<PackTensor>& t = pack->pack().layer_extent(static_cast<int64_t>(i)).tensors;
    ASSERT_EQ(t[2].name, "wk");
    EXPECT_NE(t[1].perm_offset, t[2].perm_offset);  // each stored, bound once
    EXPECT_EQ(t[2].bound_perm_offset, t[1].perm_offset);
  }
}

// A pack as the writer laid it out before identity orders were left out: every projection's
// array stored, an identity one as 0..cols-1, equal ones each in full. It opens, binds as a
// pack written now does (one array per input, none for the identity) and dequantises to the
// same weights.
TEST(HfInt4Pack, PackWithEveryProjectionsArrayFromBeforeStillLoads) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.File("m"));
  HfInt4Spec spec{Method::kGptq, 32, false, true, /*act_order=*/true};
  spec.identity_module = "self_attn.o_proj";
  WriteHfInt4Checkpoint(tmp.File("m"), spec);
  ASSERT_TRUE(PackModel(tmp.File("m"), tmp.File("p"), PackDType::kInt4).ok());
  StatusOr<MappedPack> now = MappedPack::Open(tmp.File("p"));
  ASSERT_TRUE(now.ok()) << now.status().message();
  const Pack& p = now->pack();

  // The old layout: PlanPack with a permutation for every projection, the arrays copied over.
  const std::string old = tmp.File("old");
  std::filesystem::copy(tmp.File("p"), old, std::filesystem::copy_options::recursive);
  const std::string data = ReadFile(p.data_path());
  PackManifest m = PlanPack(p.config(), PackDType::kInt4, 32,
                            std::vector<PermutedProjections>(
                                static_cast<size_t>(p.config().num_layers),
                                PermutedProjections{true, true, true, true, true, true, true}));
  m.source = p.source();
  std::string bytes(m.data_bytes, '\0');
  for (size_t e = 0; e < m.extents.size(); ++e) {
    PackExtent& to = m.extents[e];
    const PackExtent& from = p.extents()[e];
    ASSERT_EQ(to.name, from.name);
    for (size_t i = 0; i < to.tensors.size(); ++i) {
      const PackTensor& a = from.tensors[i];
      const PackTensor& b = to.tensors[i];
      auto copy = [&](std::optional<uint64_t> src, std::optional<uint64_t> dst, uint64_t n) {
        if (src) bytes.replace(to.offset + *dst, n, data, from.offset + *src, n);
      };
      copy(a.offset, b.offset, a.bytes);
      copy(a.scales_offset, b.scales_offset, a.scales_bytes());
      copy(a.zeros_offset, b.zeros_offset, a.zeros_bytes());
      copy(a.perm_offset, b.perm_offset, a.perm_bytes());
      if (b.perm_offset && !a.perm_offset) {
        std::vector<int32_t> identity(static_cast<size_t>(b.cols));
        std::iota(identity.begin(), identity.end(), 0);
        bytes.replace(to.offset + *b.perm_offset, b.perm_bytes(),
                      reinterpret_cast<const char*>(identity.data()), b.perm_bytes());
      }
    }
    to.xxh3 = XXH3_64bits(bytes.data() + to.offset, to.bytes);
  }
  WriteFile(old + "/weights.bin", bytes);
  WriteFile(old + "/manifest.json", PackManifestToJson(m));

  StatusOr<MappedPack> before = MappedPack::Open(old);
  ASSERT_TRUE(before.ok()) << before.status().message();
  const PackTensor& wo = before->pack().layer_extent(0).tensors[4];
  ASSERT_EQ(wo.name, "wo");
  EXPECT_TRUE(wo.perm_offset.has_value());  // stored, the identity
  for (size_t l = 0; l < now->weights().layers.size(); ++l) {
    const LlamaLayerWeights& x = now->weights().layers[l];
    const LlamaLayerWeights& y = before->weights().layers[l];
    EXPECT_EQ(y.wo.col_perm, nullptr);
    EXPECT_NE(y.wq.col_perm, nullptr);
    EXPECT_EQ(y.wk.col_perm, y.wq.col_perm);
    EXPECT_EQ(y.wv.col_perm, y.wq.col_perm);
    EXPECT_EQ(y.w_up.col_perm, y.w_gate.col_perm);
    for (const HfProjection& proj : kHfProjections) {
      const WeightView& a = x.*proj.member;
      const WeightView& b = y.*proj.member;
      std::vector<float> wa(static_cast<size_t>(a.numel())), wb(wa.size());
      DequantizeU4Rows(a, 0, a.rows, wa.data());
      DequantizeU4Rows(b, 0, b.rows, wb.data());
      EXPECT_EQ(wa, wb) << "layer " << l << " " << proj.module;
    }
  }
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
