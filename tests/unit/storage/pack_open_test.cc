// Pack::Open and checksum verification on damaged packs: a flipped byte in one layer, a
// truncated weights.bin, manifests edited in every way the validator must catch, a missing
// manifest or directory, and an interrupted pack's `.partial-` directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/storage/mapped_pack.h"
#include "common/storage/pack.h"
#include "tests/unit/storage/storage_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::SmallPack;
using testing::TempDir;
using Json = nlohmann::json;

TEST(PackOpen, FlippedByteInLayer3IsReportedByItsChecksum) {
  TempDir tmp("flip");
  const std::string dir = tmp.File("p");
  testing::CopyPack(SmallPack(PackDType::kBF16), dir, /*copy_data=*/true);
  StatusOr<Pack> pack = Pack::Open(dir);  // sizes still agree: Open does not hash
  ASSERT_TRUE(pack.ok()) << pack.status().ToString();
  std::string data = testing::ReadBytes(dir + "/weights.bin");
  const PackExtent& layer3 = pack->layer_extent(3);
  data[layer3.offset + 4096 + 17] ^= 0x40;
  testing::WriteBytes(dir + "/weights.bin", data);

  for (const PackExtent& e : pack->extents()) {
    const Status s =
        pack->VerifyExtent(e, reinterpret_cast<const std::byte*>(data.data()) + e.offset);
    if (e.name != "layer.3") {
      EXPECT_TRUE(s.ok()) << s.ToString();
      continue;
    }
    EXPECT_EQ(s.code(), StatusCode::kDataLoss);
    EXPECT_THAT(s.message(), HasSubstr(dir + "/weights.bin" +
                                       ": layer 3 (extent layer.3) checksum "
                                       "mismatch: expected " +
                                       ChecksumHex(e.xxh3) + ", got "));
    EXPECT_THAT(s.message(), HasSubstr("re-create it with strata pack"));
  }
  StatusOr<MappedPack> mapped = MappedPack::Open(dir);
  ASSERT_FALSE(mapped.ok());
  EXPECT_EQ(mapped.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(mapped.status().message(), HasSubstr("layer 3 (extent layer.3) checksum mismatch"));
}

TEST(PackOpen, TruncatedWeightsAreRefused) {
  TempDir tmp("trunc");
  const std::string dir = tmp.File("p");
  testing::CopyPack(SmallPack(PackDType::kBF16), dir, /*copy_data=*/true);
  const uint64_t size = std::filesystem::file_size(dir + "/weights.bin");
  std::filesystem::resize_file(dir + "/weights.bin", size - 4096);
  StatusOr<Pack> pack = Pack::Open(dir);
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(pack.status().message(), HasSubstr("pack " + dir + ": weights.bin is " +
                                                 std::to_string(size - 4096) + " bytes"));
  EXPECT_THAT(pack.status().message(), HasSubstr("truncated"));

  std::filesystem::remove(dir + "/weights.bin");
  pack = Pack::Open(dir);
  ASSERT_FALSE(pack.ok());
  EXPECT_THAT(pack.status().message(), HasSubstr("weights.bin is missing"));
}

struct ManifestEdit {
  std::string name;
  std::function<void(Json&)> edit;
  StatusCode code;
  std::string message;  // a substring of the error
  bool fp8 = false;     // edit the fp8 pack
};

Json& Extent(Json& m, const std::string& name) {
  for (Json& e : m["extents"]) {
    if (e["name"] == name) return e;
  }
  ADD_FAILURE() << "no extent " << name;
  return m;
}

Json& Tensor(Json& m, const std::string& extent, const std::string& name) {
  for (Json& t : Extent(m, extent)["tensors"]) {
    if (t["name"] == name) return t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return m;
}

class PackManifestEditTest : public ::testing::TestWithParam<ManifestEdit> {};

TEST_P(PackManifestEditTest, IsRefusedWithTheCulpritNamed) {
  const ManifestEdit& p = GetParam();
  TempDir tmp("edit");
  const std::string dir = tmp.File("p");
  testing::CopyPack(SmallPack(p.fp8 ? PackDType::kFP8 : PackDType::kBF16), dir, false);
  Json m = Json::parse(testing::ReadBytes(dir + "/manifest.json"));
  p.edit(m);
  testing::WriteBytes(dir + "/manifest.json", m.dump(1));
  StatusOr<Pack> pack = Pack::Open(dir);
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), p.code) << pack.status().ToString();
  EXPECT_THAT(pack.status().message(), HasSubstr(p.message));
  EXPECT_THAT(pack.status().message(), HasSubstr("pack " + dir));
}

INSTANTIATE_TEST_SUITE_P(
    Edits, PackManifestEditTest,
    ::testing::Values(
        ManifestEdit{"MisalignedExtent",
                     [](Json& m) {
                       Extent(m, "layer.2")["offset"] =
                           Extent(m, "layer.2")["offset"].get<uint64_t>() + 512;
                     },
                     StatusCode::kDataLoss, "layer 2 (extent layer.2) at offset"},
        ManifestEdit{
            "OverlappingExtents",
            [](Json& m) { Extent(m, "layer.2")["offset"] = Extent(m, "layer.1")["offset"]; },
            StatusCode::kDataLoss, "extents layer.1 and layer.2 overlap"},
        ManifestEdit{"ExtentPastTheEnd",
                     [](Json& m) {
                       Extent(m, "lm_head")["bytes"] =
                           Extent(m, "lm_head")["bytes"].get<uint64_t>() + 4096;
                     },
                     StatusCode::kDataLoss, "past the end of weights.bin"},
        ManifestEdit{"MissingLayer",
                     [](Json& m) {
                       Json kept = Json::array();
                       for (Json& e : m["extents"])
                         if (e["name"] != "layer.2") kept.push_back(e);
                       m["extents"] = kept;
                     },
                     StatusCode::kDataLoss,
                     "layer 2 (extent layer.2) is missing from the manifest"},
        ManifestEdit{"MissingHead", [](Json& m) { m["extents"].erase(m["extents"].size() - 1); },
                     StatusCode::kDataLoss, "the LM head (extent lm_head) is missing"},
        ManifestEdit{"DuplicateExtent",
                     [](Json& m) { m["extents"].push_back(Extent(m, "layer.0")); },
                     StatusCode::kDataLoss, "extent layer.0 is listed twice"},
        ManifestEdit{"UnknownExtent", [](Json& m) { Extent(m, "layer.3")["name"] = "layer.4"; },
                     StatusCode::kDataLoss, "unknown extent \"layer.4\""},
        ManifestEdit{"ShapeMismatch",
                     [](Json& m) {
                       Tensor(m, "layer.1", "wq")["shape"] = Json({8, 4});
                     },
                     StatusCode::kDataLoss,
                     "layer 1 (extent layer.1): tensor wq has shape [8, 4], but the config implies "
                     "[8, 8]"},
        ManifestEdit{"TensorOutsideExtent",
                     [](Json& m) {
                       Tensor(m, "layer.3", "w_down")["offset"] = Extent(m, "layer.3")["bytes"];
                     },
                     StatusCode::kDataLoss, "tensor w_down at offset"},
        ManifestEdit{"MisalignedTensor",
                     [](Json& m) { Tensor(m, "layer.3", "wk")["offset"] = 4096 + 64; },
                     StatusCode::kDataLoss, "misaligned or outside its extent"},
        ManifestEdit{"OverlappingTensors",
                     [](Json& m) {
                       Tensor(m, "layer.3", "wk")["offset"] = Tensor(m, "layer.3", "wq")["offset"];
                     },
                     StatusCode::kDataLoss, "wq and wk overlap"},
        ManifestEdit{"UnexpectedTensor",
                     [](Json& m) {
                       Json extra = Tensor(m, "layer.0", "wq");
                       extra["name"] = "bias";
                       Extent(m, "layer.0")["tensors"].push_back(extra);
                     },
                     StatusCode::kDataLoss,
                     "layer 0 (extent layer.0) has an unexpected tensor \"bias\""},
        ManifestEdit{"WrongTensorDtype",
                     [](Json& m) { Tensor(m, "layer.0", "wv")["dtype"] = "F16"; },
                     StatusCode::kDataLoss, "tensor wv is F16, but a bf16 pack stores it as BF16"},
        ManifestEdit{"UnknownTensorDtype",
                     [](Json& m) { Tensor(m, "layer.0", "wv")["dtype"] = "Q4"; },
                     StatusCode::kDataLoss, "\"dtype\" is \"Q4\", not a known dtype"},
        ManifestEdit{"MissingScales",
                     [](Json& m) { Tensor(m, "layer.2", "w_up").erase("scales_offset"); },
                     StatusCode::kDataLoss, "tensor w_up has no scales_offset", /*fp8=*/true},
        ManifestEdit{"ScalesOutsideExtent",
                     [](Json& m) { Tensor(m, "layer.2", "w_up")["scales_offset"] = 1 << 30; },
                     StatusCode::kDataLoss, "w_up: scales at offset 1073741824", /*fp8=*/true},
        ManifestEdit{"WrongVersion", [](Json& m) { m["version"] = 2; },
                     StatusCode::kInvalidArgument,
                     "has version 2, but this build reads version 1; re-create the pack"},
        ManifestEdit{"WrongFormat", [](Json& m) { m["format"] = "gguf"; },
                     StatusCode::kInvalidArgument, "not \"strata-pack\""},
        ManifestEdit{"WrongPackDtype", [](Json& m) { m["dtype"] = "int3"; }, StatusCode::kDataLoss,
                     "\"dtype\" is \"int3\""},
        ManifestEdit{"DataBytesDisagree",
                     [](Json& m) { m["data_bytes"] = m["data_bytes"].get<uint64_t>() - 4096; },
                     StatusCode::kDataLoss, "does not belong to this manifest"},
        ManifestEdit{"InvalidConfig", [](Json& m) { m["config"]["hidden_size"] = -1; },
                     StatusCode::kInvalidArgument, "hidden_size"},
        ManifestEdit{"MissingField", [](Json& m) { Extent(m, "layer.1").erase("xxh3"); },
                     StatusCode::kDataLoss, "extents[2] (layer.1): field \"xxh3\" is missing"},
        ManifestEdit{"BadChecksumText", [](Json& m) { Extent(m, "embed")["xxh3"] = "xyz"; },
                     StatusCode::kDataLoss, "\"xxh3\" is not 16 hex digits"}),
    [](const ::testing::TestParamInfo<ManifestEdit>& edit) { return edit.param.name; });

TEST(PackOpen, ManifestOrderDoesNotMatter) {
  TempDir tmp("order");
  const std::string dir = tmp.File("p");
  testing::CopyPack(SmallPack(PackDType::kFP8), dir, false);
  Json m = Json::parse(testing::ReadBytes(dir + "/manifest.json"));
  std::reverse(m["extents"].begin(), m["extents"].end());
  for (Json& e : m["extents"]) std::reverse(e["tensors"].begin(), e["tensors"].end());
  testing::WriteBytes(dir + "/manifest.json", m.dump());
  StatusOr<MappedPack> reordered = MappedPack::Open(dir);
  ASSERT_TRUE(reordered.ok()) << reordered.status().ToString();
  StatusOr<MappedPack> original = MappedPack::Open(SmallPack(PackDType::kFP8));
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  EXPECT_EQ(reordered->pack().extents().front().name, "embed");
  EXPECT_EQ(reordered->pack().extents().back().name, "lm_head");
  // The offset of `at` in weights.bin (whose first tensor is the embedding).
  const auto offset = [](const MappedPack& p, const std::byte* at) {
    return at - p.weights().embed.data;
  };
  for (size_t i = 0; i < 4; ++i) {
    for (const LayerField& f : kLayerFields) {
      const WeightView& a = reordered->weights().layers[i].*f.member;
      const WeightView& b = original->weights().layers[i].*f.member;
      EXPECT_EQ(offset(*reordered, a.data), offset(*original, b.data)) << i << " " << f.name;
      EXPECT_EQ(a.dtype, b.dtype);
      EXPECT_EQ(a.rows, b.rows);
      EXPECT_EQ(a.cols, b.cols);
    }
  }
}

TEST(PackOpen, MissingManifestOrDirectory) {
  TempDir tmp("nomanifest");
  StatusOr<Pack> pack = Pack::Open(tmp.path());
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(pack.status().message(), "not a Strata pack: no manifest.json in " + tmp.path() +
                                         "; create one with strata pack");
  pack = Pack::Open(tmp.File("absent"));
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(pack.status().message(), HasSubstr(tmp.File("absent") + " does not exist"));

  testing::WriteBytes(tmp.File("manifest.json"), "{not json");
  pack = Pack::Open(tmp.path());
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(pack.status().message(), HasSubstr("manifest.json is not a JSON object"));
}

TEST(PackOpen, LeftoverPartialDirectoryIsNotOpened) {
  TempDir tmp("partial");
  const std::string partial = tmp.File("p.partial-123");
  testing::CopyPack(SmallPack(PackDType::kBF16), partial, false);  // complete but unfinished
  StatusOr<Pack> pack = Pack::Open(partial);
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(pack.status().message(), HasSubstr("interrupted strata pack"));
  pack = Pack::Open(partial + "/");
  EXPECT_FALSE(pack.ok());
  pack = Pack::Open(tmp.File("p"));
  ASSERT_FALSE(pack.ok());
  EXPECT_EQ(pack.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace strata
