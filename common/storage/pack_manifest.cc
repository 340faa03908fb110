// PackManifestToJson and ParsePackManifest over nlohmann::json, without exceptions: every
// field is looked up and type-checked with an error that names it.
// Thread-safety: pure functions.
#include "common/storage/pack_manifest.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace strata {
namespace {

using Json = nlohmann::json;

constexpr char kRecreate[] = "; the pack is corrupt — re-create it with strata pack";

// Field lookups on a JSON object; `where` names the object in errors.
class Fields {
 public:
  Fields(const Json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  StatusOr<const Json*> Get(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Bad(key, "is missing");
    return &*it;
  }
  StatusOr<uint64_t> U64(const char* key) const {
    STRATA_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_number_unsigned()) return Bad(key, "is not a non-negative integer");
    return v->get<uint64_t>();
  }
  StatusOr<std::string> String(const char* key) const {
    STRATA_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_string()) return Bad(key, "is not a string");
    return v->get<std::string>();
  }
  StatusOr<const Json*> Array(const char* key) const {
    STRATA_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_array()) return Bad(key, "is not an array");
    return v;
  }
  Status Bad(const char* key, const std::string& what) const {
    return DataLoss(where_ + ": field \"" + key + "\" " + what + kRecreate);
  }

 private:
  const Json& obj_;
  std::string where_;
};

StatusOr<PackTensor> ParseTensor(const Json& j, const std::string& where) {
  if (!j.is_object()) return DataLoss(where + " is not a JSON object" + kRecreate);
  Fields f(j, where);
  PackTensor t;
  STRATA_ASSIGN_OR_RETURN(t.name, f.String("name"));
  const Fields named(j, where + " (" + t.name + ")");
  STRATA_ASSIGN_OR_RETURN(std::string dtype, named.String("dtype"));
  const std::optional<DType> parsed = ParseDType(dtype);
  if (!parsed) return named.Bad("dtype", "is \"" + dtype + "\", not a known dtype");
  t.dtype = *parsed;
  STRATA_ASSIGN_OR_RETURN(const Json* shape, named.Array("shape"));
  if (shape->size() != 2 || !(*shape)[0].is_number_unsigned() ||
      !(*shape)[1].is_number_unsigned()) {
    return named.Bad("shape", "is not [rows, cols]");
  }
  const uint64_t rows = (*shape)[0].get<uint64_t>(), cols = (*shape)[1].get<uint64_t>();
  constexpr uint64_t kMaxDim = uint64_t{1} << 31;  // keeps rows * cols * 4 far from overflow
  if (rows > kMaxDim || cols > kMaxDim) return named.Bad("shape", "has a dimension over 2^31");
  t.rows = static_cast<int64_t>(rows);
  t.cols = static_cast<int64_t>(cols);
  STRATA_ASSIGN_OR_RETURN(t.offset, named.U64("offset"));
  STRATA_ASSIGN_OR_RETURN(t.bytes, named.U64("bytes"));
  if (j.contains("scales_offset")) {
    STRATA_ASSIGN_OR_RETURN(t.scales_offset, named.U64("scales_offset"));
  }
  if (j.contains("zeros_offset")) {
    STRATA_ASSIGN_OR_RETURN(t.zeros_offset, named.U64("zeros_offset"));
  }
  if (j.contains("perm_offset")) {
    STRATA_ASSIGN_OR_RETURN(t.perm_offset, named.U64("perm_offset"));
  }
  if (j.contains("group_size")) {
    STRATA_ASSIGN_OR_RETURN(const uint64_t group_size, named.U64("group_size"));
    if (group_size == 0 || group_size > cols) {
      return named.Bad("group_size", "is not between 1 and the tensor's columns");
    }
    t.group_size = static_cast<int64_t>(group_size);
  }
  return t;
}

StatusOr<PackExtent> ParseExtent(const Json& j, const std::string& where) {
  if (!j.is_object()) return DataLoss(where + " is not a JSON object" + kRecreate);
  PackExtent e;
  STRATA_ASSIGN_OR_RETURN(e.name, Fields(j, where).String("name"));
  const std::string named = where + " (" + e.name + ")";
  const Fields f(j, named);
  STRATA_ASSIGN_OR_RETURN(e.offset, f.U64("offset"));
  STRATA_ASSIGN_OR_RETURN(e.bytes, f.U64("bytes"));
  STRATA_ASSIGN_OR_RETURN(std::string hex, f.String("xxh3"));
  const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), e.xxh3, 16);
  if (hex.size() != 16 || ec != std::errc() || end != hex.data() + hex.size()) {
    return f.Bad("xxh3", "is not 16 hex digits");
  }
  STRATA_ASSIGN_OR_RETURN(const Json* tensors, f.Array("tensors"));
  for (size_t i = 0; i < tensors->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(
        PackTensor t, ParseTensor((*tensors)[i], named + ": tensors[" + std::to_string(i) + "]"));
    e.tensors.push_back(std::move(t));
  }
  return e;
}

}  // namespace

std::string PackManifestToJson(const PackManifest& m) {
  using Ordered = nlohmann::ordered_json;  // keeps format and version first, for readers
  Ordered extents = Ordered::array();
  for (const PackExtent& e : m.extents) {
    Ordered tensors = Ordered::array();
    for (const PackTensor& t : e.tensors) {
      Ordered jt = {{"name", t.name},
                    {"dtype", DTypeName(t.dtype)},
                    {"shape", {t.rows, t.cols}},
                    {"offset", t.offset},
                    {"bytes", t.bytes}};
      if (t.scales_offset) jt["scales_offset"] = *t.scales_offset;
      if (t.zeros_offset) jt["zeros_offset"] = *t.zeros_offset;
      if (t.perm_offset) jt["perm_offset"] = *t.perm_offset;
      if (t.group_size > 0) jt["group_size"] = t.group_size;
      tensors.push_back(std::move(jt));
    }
    extents.push_back({{"name", e.name},
                       {"offset", e.offset},
                       {"bytes", e.bytes},
                       {"xxh3", ChecksumHex(e.xxh3)},
                       {"tensors", std::move(tensors)}});
  }
  const Ordered j = {
      {"format", kPackFormatName},       {"version", kPackVersion},
      {"dtype", PackDTypeName(m.dtype)}, {"config", Ordered::parse(ModelConfigToJson(m.config))},
      {"data_file", m.data_file},        {"data_bytes", m.data_bytes},
      {"alignment", m.alignment},        {"source", m.source},
      {"extents", std::move(extents)}};
  return j.dump(1) + "\n";
}

StatusOr<PackManifest> ParsePackManifest(std::string_view text, const std::string& where) {
  const std::string manifest = where + ": " + std::string(kPackManifestFile);
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLoss(manifest + " is not a JSON object" + kRecreate);
  }
  const Fields f(j, manifest);
  STRATA_ASSIGN_OR_RETURN(std::string format, f.String("format"));
  if (format != kPackFormatName) {
    return InvalidArgument(manifest + " has format \"" + format + "\", not \"" +
                           std::string(kPackFormatName) + "\"; this is not a Strata pack");
  }
  STRATA_ASSIGN_OR_RETURN(const Json* version, f.Get("version"));
  if (!version->is_number_integer() || version->get<int64_t>() != kPackVersion) {
    return InvalidArgument(manifest + " has version " + version->dump() +
                           ", but this build reads version " + std::to_string(kPackVersion) +
                           "; re-create the pack with this build's strata pack");
  }
  PackManifest m;
  STRATA_ASSIGN_OR_RETURN(std::string dtype, f.String("dtype"));
  const std::optional<PackDType> parsed = ParsePackDType(dtype);
  if (!parsed) return f.Bad("dtype", "is \"" + dtype + "\", not \"bf16\", \"fp8\" or \"int4\"");
  m.dtype = *parsed;
  STRATA_ASSIGN_OR_RETURN(const Json* config, f.Get("config"));
  if (!config->is_object()) return f.Bad("config", "is not a JSON object");
  STRATA_ASSIGN_OR_RETURN(m.config, ParseModelConfig(config->dump(), manifest + ": config"));
  STRATA_ASSIGN_OR_RETURN(m.data_file, f.String("data_file"));
  STRATA_ASSIGN_OR_RETURN(m.data_bytes, f.U64("data_bytes"));
  STRATA_ASSIGN_OR_RETURN(m.alignment, f.U64("alignment"));
  STRATA_ASSIGN_OR_RETURN(m.source, f.String("source"));
  STRATA_ASSIGN_OR_RETURN(const Json* extents, f.Array("extents"));
  for (size_t i = 0; i < extents->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(PackExtent e, ParseExtent((*extents)[i], manifest + ": extents[" +
                                                                         std::to_string(i) + "]"));
    m.extents.push_back(std::move(e));
  }
  return m;
}

}  // namespace strata
