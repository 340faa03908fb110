// Opens and validates safetensors files: every header field, offset and size is checked
// against the mapped file, so a corrupt or hostile file yields a Status, never an
// out-of-bounds read. Thread-safety: SafetensorsFile is immutable after Open.
#include "common/model/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

namespace strata {
namespace {

using Json = nlohmann::json;

constexpr char kCorrupt[] = "; the file is truncated or corrupt; re-download it";

Status Corrupt(const std::string& path, const std::string& what) {
  return DataLoss(path + ": " + what + kCorrupt);
}

Status CorruptTensor(const std::string& path, const std::string& tensor, const std::string& what) {
  return Corrupt(path, "tensor '" + tensor + "' " + what);
}

std::optional<uint64_t> NonNegativeInt(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  return std::nullopt;
}

// Fills `info` (all but `data`) from a header entry and returns its [begin, end) offsets
// relative to the data section, validated against `data_size`.
StatusOr<std::pair<uint64_t, uint64_t>> ParseEntry(const std::string& path, const Json& entry,
                                                   uint64_t data_size, TensorInfo& info) {
  const std::string& name = info.name;
  if (!entry.is_object()) {
    return CorruptTensor(path, name, "has a header entry that is not an object");
  }
  auto dtype_it = entry.find("dtype");
  auto shape_it = entry.find("shape");
  auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || shape_it == entry.end() || offsets_it == entry.end()) {
    return CorruptTensor(path, name, "lacks one of dtype, shape, data_offsets in the header");
  }
  if (!dtype_it->is_string()) return CorruptTensor(path, name, "has a dtype that is not a string");
  const std::string dtype_name = dtype_it->get<std::string>();
  std::optional<DType> dtype = ParseDType(dtype_name);
  info.i32 = dtype_name == kI32Name;
  if (!info.i32 && (!dtype || *dtype == DType::kU4)) {  // U4 is a pack's, never a checkpoint's
    return Unimplemented(path + ": tensor '" + name + "' has dtype " + dtype_name +
                         ", which Strata does not load (supported: F32, F16, BF16, F8_E4M3, " +
                         "and I32 for AWQ/GPTQ checkpoints); convert the checkpoint to one of those");
  }
  if (dtype) info.dtype = *dtype;
  const size_t element_bytes = info.i32 ? sizeof(int32_t) : DTypeSize(info.dtype);

  if (!shape_it->is_array()) return CorruptTensor(path, name, "has a shape that is not a list");
  uint64_t numel = 1;
  for (const Json& dim : *shape_it) {
    std::optional<uint64_t> d = NonNegativeInt(dim);
    if (!d || *d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return CorruptTensor(
          path, name,
          "has shape " + shape_it->dump() + " with a dimension that is not a non-negative integer");
    }
    if (__builtin_mul_overflow(numel, *d, &numel) ||
        numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return CorruptTensor(path, name, "has shape " + shape_it->dump() + " whose size overflows");
    }
    info.shape.push_back(static_cast<int64_t>(*d));
  }
  uint64_t expected_bytes = 0;
  if (__builtin_mul_overflow(numel, element_bytes, &expected_bytes)) {
    return CorruptTensor(path, name, "has shape " + shape_it->dump() + " whose size overflows");
  }

  const Json& offsets = *offsets_it;
  std::optional<uint64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = NonNegativeInt(offsets[0]);
    end = NonNegativeInt(offsets[1]);
  }
  if (!begin || !end) {
    return CorruptTensor(
        path, name,
        "has data_offsets " + offsets.dump() + ", expected two non-negative integers [begin, end]");
  }
  const std::string range = "[" + std::to_string(*begin) + ", " + std::to_string(*end) + "]";
  if (*end < *begin) return CorruptTensor(path, name, "has reversed data_offsets " + range);
  if (*end > data_size) {
    return CorruptTensor(path, name,
                         "has data_offsets " + range + " past the end of the data (" +
                             std::to_string(data_size) + " bytes)");
  }
  if (*end - *begin != expected_bytes) {
    return CorruptTensor(path, name,
                         "has data_offsets " + range + " spanning " +
                             std::to_string(*end - *begin) + " bytes, but dtype " + dtype_name +
                             " x shape " + info.ShapeString() + " needs " +
                             std::to_string(expected_bytes));
  }
  info.nbytes = static_cast<size_t>(expected_bytes);
  return std::make_pair(*begin, *end);
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string_view TensorInfo::DTypeString() const { return i32 ? kI32Name : DTypeName(dtype); }

std::string TensorInfo::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile f;
  STRATA_ASSIGN_OR_RETURN(f.file_, MappedFile::Open(path));
  const std::span<const std::byte> bytes = f.file_.bytes();
  if (bytes.size() < 8) {
    return Corrupt(path, "file is " + std::to_string(bytes.size()) +
                             " bytes, shorter than the 8-byte safetensors header length");
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) {
    header_len = (header_len << 8) | static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
  }
  if (header_len > bytes.size() - 8) {
    return Corrupt(path, "header length " + std::to_string(header_len) +
                             " is past the end of the " + std::to_string(bytes.size()) +
                             "-byte file");
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes.data()) + 8;
  const Json header =
      Json::parse(header_begin, header_begin + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return Corrupt(path, "header is not valid JSON");
  if (!header.is_object()) return Corrupt(path, "header is not a JSON object");

  const uint64_t data_size = bytes.size() - 8 - header_len;
  const std::byte* data = bytes.data() + 8 + header_len;
  struct Range {
    uint64_t begin, end;
    size_t tensor;  // index into tensors_
  };
  std::vector<Range> ranges;
  // nlohmann objects iterate in key order, so tensors_ comes out sorted by name.
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return Corrupt(path, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          return Corrupt(path, "__metadata__ value '" + key + "' is not a string");
        }
        f.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    TensorInfo info;
    info.name = name;
    info.file = path;
    STRATA_ASSIGN_OR_RETURN(auto offsets, ParseEntry(path, entry, data_size, info));
    info.data = data + offsets.first;
    ranges.push_back({offsets.first, offsets.second, f.tensors_.size()});
    f.tensors_.push_back(std::move(info));
  }
  // Empty tensors overlap nothing; the others must not share a byte.
  std::erase_if(ranges, [](const Range& r) { return r.begin == r.end; });
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      return Corrupt(path, "tensors '" + f.tensors_[ranges[i - 1].tensor].name + "' and '" +
                               f.tensors_[ranges[i].tensor].name +
                               "' have overlapping data_offsets");
    }
  }
  return f;
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name) return nullptr;
  return &*it;
}

}  // namespace strata
