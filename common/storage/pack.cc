// Pack::Open (manifest parse, then ValidatePackManifest against weights.bin's size, then the
// permutations read and bound), the views over an extent's bytes, and XXH3 verification.
// Thread-safety: see pack.h.
#include "common/storage/pack.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/storage/pack_manifest.h"
#include "common/storage/pack_validate.h"
#include "common/util/check.h"
#include "common/util/file.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

// Whether `dir` is the temporary directory of a strata pack run ("P.partial-<pid>").
bool IsPartialDir(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  constexpr std::string_view kMarker = ".partial-";
  const size_t at = name.rfind(kMarker);
  if (at == std::string::npos || at == 0 || at + kMarker.size() == name.size()) return false;
  return name.find_first_not_of("0123456789", at + kMarker.size()) == std::string::npos;
}

Status CheckBase(const std::string& dir, const std::byte* extent_base) {
  if (extent_base == nullptr || reinterpret_cast<uintptr_t>(extent_base) % alignof(float) != 0) {
    return InvalidArgument("pack " + dir + ": an extent's base address must be non-null and " +
                           "float-aligned");
  }
  return OkStatus();
}

// Where the byte at `offset` of an extent cut at `split` is (split 0: all at `rest`).
struct SplitBases {
  const std::byte* prefix = nullptr;
  uint64_t split = 0;
  const std::byte* rest = nullptr;

  const std::byte* At(uint64_t offset) const {
    return offset < split ? prefix + offset : rest + (offset - split);
  }
};

WeightView ViewOf(const PackTensor& t, const SplitBases& bases) {
  WeightView v;
  v.data = bases.At(t.offset);
  v.dtype = t.dtype;
  v.rows = t.rows;
  v.cols = t.cols;
  if (t.dtype == DType::kU4) {
    v.group_size = t.group_size;
    v.group_scales = reinterpret_cast<const uint16_t*>(bases.At(*t.scales_offset));
    v.group_zeros = reinterpret_cast<const uint16_t*>(bases.At(*t.zeros_offset));
    if (t.bound_perm_offset) {
      v.col_perm = reinterpret_cast<const int32_t*>(bases.At(*t.bound_perm_offset));
    }
  } else if (t.scales_offset) {
    v.scales = reinterpret_cast<const float*>(bases.At(*t.scales_offset));
  }
  return v;
}

WeightView ViewOf(const PackTensor& t, const std::byte* base) {
  return ViewOf(t, SplitBases{nullptr, 0, base});
}

}  // namespace

StatusOr<Pack> Pack::Open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound("pack directory " + dir + " does not exist; create it with strata pack");
  }
  if (IsPartialDir(dir)) {
    return FailedPrecondition(dir + " is the unfinished output of an interrupted strata pack, " +
                              "not a pack; delete it and run strata pack again");
  }
  const std::string where = "pack " + dir;
  const std::string manifest_path = (fs::path(dir) / kPackManifestFile).string();
  if (!fs::exists(manifest_path, ec)) {
    return NotFound("not a Strata pack: no manifest.json in " + dir +
                    "; create one with strata pack");
  }
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(manifest_path));
  Pack pack;
  pack.dir_ = dir;
  pack.data_path_ = (fs::path(dir) / kPackDataFile).string();
  STRATA_ASSIGN_OR_RETURN(pack.manifest_, ParsePackManifest(text, where));
  struct stat st {};
  std::string problem;
  if (::stat(pack.data_path_.c_str(), &st) != 0) {
    problem =
        errno == ENOENT ? "is missing" : std::string("cannot be read: ") + std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "is not a regular file";
  }
  if (!problem.empty()) {
    return DataLoss(where + ": " + std::string(kPackDataFile) + " " + problem +
                    "; the pack is corrupt — re-create it with strata pack");
  }
  STRATA_ASSIGN_OR_RETURN(
      pack.manifest_.extents,
      ValidatePackManifest(pack.manifest_, static_cast<uint64_t>(st.st_size), where));
  STRATA_RETURN_IF_ERROR(ReadPackPermutations(pack.manifest_, pack.data_path_, where));
  return pack;
}

const PackExtent& Pack::layer_extent(int64_t layer) const {
  STRATA_CHECK(layer >= 0 && layer < config().num_layers);
  return extents()[static_cast<size_t>(1 + layer)];
}

StatusOr<int32_t> Pack::LayerRange(int64_t first, int64_t count) const {
  const int64_t layers = config().num_layers;
  if (count < 0) count = layers - first;
  if (first < 0 || first >= layers || count < 1 || first + count > layers) {
    return InvalidArgument("layer range [" + std::to_string(first) + ", " +
                           std::to_string(first + count) + ") is not inside the " +
                           std::to_string(layers) + " layers of pack " + dir_);
  }
  return static_cast<int32_t>(count);
}

StatusOr<LlamaLayerWeights> Pack::BindLayer(int64_t layer, const std::byte* extent_base) const {
  return BindLayerSplit(layer, nullptr, 0, extent_base);
}

StatusOr<LlamaLayerWeights> Pack::BindLayerSplit(int64_t layer, const std::byte* prefix_base,
                                                 uint64_t split,
                                                 const std::byte* rest_base) const {
  if (layer < 0 || layer >= config().num_layers) {
    return InvalidArgument("pack " + dir_ + " has layers 0.." +
                           std::to_string(config().num_layers - 1) + ", not layer " +
                           std::to_string(layer));
  }
  STRATA_RETURN_IF_ERROR(CheckBase(dir_, rest_base));
  const PackExtent& e = layer_extent(layer);
  if (split > 0) {
    STRATA_RETURN_IF_ERROR(CheckBase(dir_, prefix_base));
    const std::vector<uint64_t> points = ExtentSplitPoints(e);
    if (!std::binary_search(points.begin(), points.end(), split)) {
      return InvalidArgument("pack " + dir_ + ": layer " + std::to_string(layer) +
                             " cannot be cut at byte " + std::to_string(split) +
                             ", which is inside an array");
    }
  }
  LlamaLayerWeights w;
  for (size_t i = 0; i < kLayerFields.size(); ++i) {
    // ValidatePackManifest put the tensors in kLayerFields order.
    STRATA_CHECK(e.tensors[i].name == kLayerFields[i].name);
    w.*kLayerFields[i].member = ViewOf(e.tensors[i], SplitBases{prefix_base, split, rest_base});
  }
  return w;
}

StatusOr<WeightView> Pack::BindEmbed(const std::byte* extent_base) const {
  STRATA_RETURN_IF_ERROR(CheckBase(dir_, extent_base));
  return ViewOf(embed_extent().tensors.front(), extent_base);
}

StatusOr<WeightView> Pack::BindFinalNorm(const std::byte* extent_base) const {
  STRATA_RETURN_IF_ERROR(CheckBase(dir_, extent_base));
  return ViewOf(final_norm_extent().tensors.front(), extent_base);
}

StatusOr<WeightView> Pack::BindLmHead(const std::byte* extent_base) const {
  STRATA_RETURN_IF_ERROR(CheckBase(dir_, extent_base));
  return ViewOf(lm_head_extent().tensors.front(), extent_base);
}

Status Pack::VerifyExtent(const PackExtent& extent, const std::byte* bytes) const {
  return VerifyDigest(extent, XXH3_64bits(bytes, extent.bytes));
}

Status Pack::VerifyDigest(const PackExtent& extent, uint64_t got) const {
  if (got == extent.xxh3) return OkStatus();
  return DataLoss(data_path_ + ": " + DescribeExtent(extent.name) +
                  " checksum mismatch: expected " + ChecksumHex(extent.xxh3) + ", got " +
                  ChecksumHex(got) + "; the pack is corrupt — re-create it with strata pack");
}

}  // namespace strata
