// ValidatePackManifest: file-level fields, then the extent table (names, bounds, overlap),
// then each extent's tensors against ExtentTensorSpecs; ReadPackPermutations: the act-order
// permutations read from the data file, checked, and bound. Thread-safety: pure functions.
#include "common/storage/pack_validate.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "common/model/int4_weights.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

constexpr char kRecreate[] = "; the pack is corrupt — re-create it with strata pack";

std::string Shape(int64_t rows, int64_t cols) {
  return "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}

// A byte range [begin, begin + bytes) and what it holds, for overlap checks.
struct Range {
  uint64_t begin = 0;
  uint64_t bytes = 0;
  std::string what;
};

// The first pair of overlapping ranges, or nullopt. Sorts `ranges`.
std::optional<std::pair<std::string, std::string>> FindOverlap(std::vector<Range>& ranges) {
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i - 1].begin + ranges[i - 1].bytes > ranges[i].begin) {
      return std::make_pair(ranges[i - 1].what, ranges[i].what);
    }
  }
  return std::nullopt;
}

// Whether [offset, offset + bytes) is aligned and lies inside [0, limit).
bool AlignedInside(uint64_t offset, uint64_t bytes, uint64_t limit) {
  return offset % kDirectIoAlignment == 0 && offset <= limit && bytes <= limit - offset;
}

// The extent's tensors, checked, in ExtentTensorSpecs order.
StatusOr<std::vector<PackTensor>> ValidateTensors(const PackManifest& m, const ExtentId& id,
                                                  const PackExtent& e, const std::string& where) {
  const std::string in = where + ": " + DescribeExtent(e.name);
  const std::vector<TensorSpec> specs = ExtentTensorSpecs(m.config, m.dtype, id);
  std::vector<PackTensor> ordered;
  std::vector<Range> ranges;
  for (const TensorSpec& s : specs) {
    const auto it = std::find_if(e.tensors.begin(), e.tensors.end(),
                                 [&](const PackTensor& t) { return t.name == s.name; });
    if (it == e.tensors.end()) {
      return DataLoss(in + " has no tensor " + s.name + kRecreate);
    }
    const PackTensor& t = *it;
    const std::string tensor = in + ": tensor " + t.name;
    if (t.dtype != s.dtype) {
      return DataLoss(tensor + " is " + std::string(DTypeName(t.dtype)) + ", but a " +
                      std::string(PackDTypeName(m.dtype)) + " pack stores it as " +
                      std::string(DTypeName(s.dtype)) + kRecreate);
    }
    if (t.rows != s.rows || t.cols != s.cols) {
      return DataLoss(tensor + " has shape " + Shape(t.rows, t.cols) + ", but the config implies " +
                      Shape(s.rows, s.cols) + kRecreate);
    }
    if (t.bytes != DTypeBytes(t.dtype, t.rows * t.cols)) {
      return DataLoss(tensor + " has " + std::to_string(t.bytes) + " bytes, but its shape and " +
                      "dtype need " + std::to_string(DTypeBytes(t.dtype, t.rows * t.cols)) +
                      kRecreate);
    }
    // U4 tensors carry their group size (any the writer could use); others none.
    const bool grouped = t.dtype == DType::kU4;
    if (grouped) {
      if (const Status g = CheckInt4GroupSize(t.group_size, t.cols, tensor); !g.ok()) {
        return DataLoss(g.message() + kRecreate);
      }
    } else if (t.group_size != 0 || t.zeros_offset || t.perm_offset) {
      return DataLoss(tensor + " has a group_size, zeros_offset or perm_offset, which only U4 " +
                      "tensors have" + kRecreate);
    }
    if (t.zeros_offset.has_value() != grouped) {
      return DataLoss(tensor + " has no zeros_offset, which U4 tensors need" + kRecreate);
    }
    if (!AlignedInside(t.offset, t.bytes, e.bytes)) {
      return DataLoss(tensor + " at offset " + std::to_string(t.offset) + " (" +
                      std::to_string(t.bytes) + " bytes) is misaligned or outside its extent of " +
                      std::to_string(e.bytes) + " bytes" + kRecreate);
    }
    ranges.push_back({t.offset, t.bytes, t.name});
    if (t.scales_offset.has_value() != s.scaled) {
      return DataLoss(tensor +
                      (s.scaled ? " has no scales_offset, which F8_E4M3 and U4 tensors need"
                                : " has a scales_offset, which only F8_E4M3 and U4 tensors have") +
                      kRecreate);
    }
    // The arrays beside the data (scales, zero points, permutation): inside, aligned, and
    // then held to the overlap check.
    const auto beside = [&](const std::optional<uint64_t>& offset, uint64_t bytes,
                            const std::string& what) -> Status {
      if (!offset) return OkStatus();
      if (!AlignedInside(*offset, bytes, e.bytes)) {
        return DataLoss(tensor + ": " + what + " at offset " + std::to_string(*offset) +
                        " misaligned or outside its extent of " + std::to_string(e.bytes) +
                        " bytes" + kRecreate);
      }
      ranges.push_back({*offset, bytes, t.name + " " + what});
      return OkStatus();
    };
    STRATA_RETURN_IF_ERROR(beside(t.scales_offset, t.scales_bytes(), "scales"));
    STRATA_RETURN_IF_ERROR(beside(t.zeros_offset, t.zeros_bytes(), "zero points"));
    STRATA_RETURN_IF_ERROR(beside(t.perm_offset, t.perm_bytes(), "permutation"));
    ordered.push_back(t);
  }
  if (e.tensors.size() != specs.size()) {
    for (const PackTensor& t : e.tensors) {
      const bool expected = std::any_of(specs.begin(), specs.end(),
                                        [&](const TensorSpec& s) { return s.name == t.name; });
      if (!expected) {
        return DataLoss(in + " has an unexpected tensor \"" + t.name + "\"" + kRecreate);
      }
    }
    return DataLoss(in + " lists a tensor twice" + kRecreate);
  }
  if (auto overlap = FindOverlap(ranges)) {
    return DataLoss(in + ": " + overlap->first + " and " + overlap->second + " overlap" +
                    kRecreate);
  }
  return ordered;
}

}  // namespace

StatusOr<std::vector<PackExtent>> ValidatePackManifest(const PackManifest& m,
                                                       uint64_t data_file_size,
                                                       const std::string& where) {
  if (m.data_file != kPackDataFile) {
    return DataLoss(where + ": data_file is \"" + m.data_file + "\", expected \"" +
                    std::string(kPackDataFile) + "\"" + kRecreate);
  }
  if (m.alignment != kDirectIoAlignment) {
    return DataLoss(where + ": alignment is " + std::to_string(m.alignment) + ", expected " +
                    std::to_string(kDirectIoAlignment) + kRecreate);
  }
  if (data_file_size != m.data_bytes) {
    return DataLoss(
        where + ": " + std::string(kPackDataFile) + " is " + std::to_string(data_file_size) +
        " bytes, but the manifest says " + std::to_string(m.data_bytes) +
        (data_file_size < m.data_bytes ? " (the file is truncated)"
                                       : " (the file does not belong to this manifest)") +
        kRecreate);
  }
  const int64_t num_layers = m.config.num_layers;
  const std::vector<ExtentId> order = PackExtentOrder(num_layers);
  std::vector<std::optional<PackExtent>> found(order.size());
  std::vector<Range> ranges;
  for (const PackExtent& e : m.extents) {
    const std::optional<ExtentId> id = ParseExtentName(e.name, num_layers);
    if (!id) {
      return DataLoss(where + ": unknown extent \"" + e.name + "\" (the model has " +
                      std::to_string(num_layers) + " layers)" + kRecreate);
    }
    std::optional<PackExtent>& slot = found[CanonicalExtentIndex(*id, num_layers)];
    if (slot) return DataLoss(where + ": extent " + e.name + " is listed twice" + kRecreate);
    if (e.bytes == 0 || e.bytes % kDirectIoAlignment != 0 ||
        !AlignedInside(e.offset, e.bytes, m.data_bytes)) {
      return DataLoss(
          where + ": " + DescribeExtent(e.name) + " at offset " + std::to_string(e.offset) + " (" +
          std::to_string(e.bytes) + " bytes) is misaligned, empty or past the end of " +
          std::string(kPackDataFile) + " (" + std::to_string(m.data_bytes) + " bytes)" + kRecreate);
    }
    STRATA_ASSIGN_OR_RETURN(std::vector<PackTensor> tensors, ValidateTensors(m, *id, e, where));
    ranges.push_back({e.offset, e.bytes, e.name});
    slot = e;
    slot->tensors = std::move(tensors);
  }
  std::vector<PackExtent> extents;
  for (size_t i = 0; i < order.size(); ++i) {
    if (!found[i]) {
      return DataLoss(where + ": " + DescribeExtent(ExtentName(order[i])) +
                      " is missing from the manifest" + kRecreate);
    }
    extents.push_back(std::move(*found[i]));
  }
  if (auto overlap = FindOverlap(ranges)) {
    return DataLoss(where + ": extents " + overlap->first + " and " + overlap->second + " overlap" +
                    kRecreate);
  }
  return extents;
}

Status ReadPackPermutations(PackManifest& manifest, const std::string& data_path,
                            const std::string& where) {
  const auto corrupt = [&](const std::string& what) {
    return DataLoss(where + ": " + what + kRecreate);
  };
  int fd = -1;
  std::vector<std::vector<int32_t>> perms;  // (tensors of the extent), each (cols) or empty
  std::vector<bool> seen;                   // (cols)
  Status status;
  for (PackExtent& e : manifest.extents) {
    perms.assign(e.tensors.size(), std::vector<int32_t>());
    for (size_t i = 0; i < e.tensors.size() && status.ok(); ++i) {
      const PackTensor& t = e.tensors[i];
      if (!t.perm_offset) continue;
      const std::string tensor = e.name + "." + t.name;
      if (fd < 0 && (fd = ::open(data_path.c_str(), O_RDONLY | O_CLOEXEC)) < 0) {
        return corrupt(data_path + " cannot be read: " + std::strerror(errno));
      }
      std::vector<int32_t>& perm = perms[i];
      perm.resize(static_cast<size_t>(t.cols));
      const auto bytes = static_cast<ssize_t>(t.perm_bytes());
      if (::pread(fd, perm.data(), static_cast<size_t>(bytes),
                  static_cast<off_t>(e.offset + *t.perm_offset)) != bytes) {
        status = corrupt(tensor + ": its permutation cannot be read from " + data_path);
        continue;
      }
      seen.assign(static_cast<size_t>(t.cols), false);
      for (size_t j = 0; j < perm.size() && status.ok(); ++j) {
        const int32_t c = perm[j];
        if (c < 0 || c >= t.cols || seen[static_cast<size_t>(c)]) {
          status = corrupt(tensor + ": permutation entry " + std::to_string(j) + " is " +
                           std::to_string(c) + (c < 0 || c >= t.cols
                                                    ? ", not an input column in [0, " +
                                                          std::to_string(t.cols) + ")"
                                                    : ", a column named twice"));
        } else {
          seen[static_cast<size_t>(c)] = true;
        }
      }
    }
    if (!status.ok()) break;
    const std::optional<ExtentId> id = ParseExtentName(e.name, manifest.config.num_layers);
    if (id->kind != ExtentId::Kind::kLayer) continue;
    // A layer (tensors in kLayerFields order): bind as SharePermutations does over the arrays
    // just read, then name each bound array by its offset.
    LlamaLayerWeights layer;
    for (size_t i = 0; i < kLayerFields.size(); ++i) {
      WeightView& v = layer.*kLayerFields[i].member;
      v.cols = e.tensors[i].cols;
      v.col_perm = perms[i].empty() ? nullptr : perms[i].data();
    }
    SharePermutations(layer);
    for (size_t i = 0; i < kLayerFields.size(); ++i) {
      const int32_t* bound = (layer.*kLayerFields[i].member).col_perm;
      for (size_t j = 0; j < kLayerFields.size() && bound != nullptr; ++j) {
        if (bound == perms[j].data()) e.tensors[i].bound_perm_offset = e.tensors[j].perm_offset;
      }
    }
  }
  if (fd >= 0) ::close(fd);
  return status;
}

}  // namespace strata
