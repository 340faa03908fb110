// Pack dtype and extent names, the tensors each extent holds, and the writer's layout plan.
// Thread-safety: pure functions.
#include "common/storage/pack_format.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "common/util/check.h"
#include "common/util/direct_io.h"

namespace strata {

std::string_view PackDTypeName(PackDType dtype) {
  switch (dtype) {
    case PackDType::kBF16: return "bf16";
    case PackDType::kFP8: return "fp8";
    case PackDType::kInt4: return "int4";
  }
  return "?";
}

constexpr PackDType kPackDTypes[] = {PackDType::kBF16, PackDType::kFP8, PackDType::kInt4};

std::optional<PackDType> ParsePackDType(std::string_view name) {
  for (PackDType d : kPackDTypes) {
    if (name == PackDTypeName(d)) return d;
  }
  return std::nullopt;
}

std::vector<std::string> PackDTypeNames() {
  std::vector<std::string> names;
  for (PackDType d : kPackDTypes) names.emplace_back(PackDTypeName(d));
  return names;
}

std::string ChecksumHex(uint64_t xxh3) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(xxh3));
  return buf;
}

std::vector<ExtentId> PackExtentOrder(int64_t num_layers) {
  std::vector<ExtentId> order;
  order.push_back({ExtentId::Kind::kEmbed, -1});
  for (int64_t i = 0; i < num_layers; ++i) order.push_back({ExtentId::Kind::kLayer, i});
  order.push_back({ExtentId::Kind::kFinalNorm, -1});
  order.push_back({ExtentId::Kind::kLmHead, -1});
  return order;
}

std::string ExtentName(const ExtentId& id) {
  switch (id.kind) {
    case ExtentId::Kind::kEmbed: return "embed";
    case ExtentId::Kind::kLayer: return "layer." + std::to_string(id.layer);
    case ExtentId::Kind::kFinalNorm: return "final_norm";
    case ExtentId::Kind::kLmHead: return "lm_head";
  }
  return "?";
}

std::optional<ExtentId> ParseExtentName(std::string_view name, int64_t num_layers) {
  if (name == "embed") return ExtentId{ExtentId::Kind::kEmbed, -1};
  if (name == "final_norm") return ExtentId{ExtentId::Kind::kFinalNorm, -1};
  if (name == "lm_head") return ExtentId{ExtentId::Kind::kLmHead, -1};
  constexpr std::string_view kPrefix = "layer.";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  const std::string_view digits = name.substr(kPrefix.size());
  // Canonical decimal only, so that "layer.03" cannot alias "layer.3".
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  int64_t layer = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), layer);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  if (layer < 0 || layer >= num_layers) return std::nullopt;
  return ExtentId{ExtentId::Kind::kLayer, layer};
}

size_t CanonicalExtentIndex(const ExtentId& id, int64_t num_layers) {
  switch (id.kind) {
    case ExtentId::Kind::kEmbed: return 0;
    case ExtentId::Kind::kLayer: return static_cast<size_t>(1 + id.layer);
    case ExtentId::Kind::kFinalNorm: return static_cast<size_t>(1 + num_layers);
    case ExtentId::Kind::kLmHead: return static_cast<size_t>(2 + num_layers);
  }
  return 0;
}

std::string DescribeExtent(std::string_view name) {
  const std::string extent = " (extent " + std::string(name) + ")";
  if (name == "embed") return "the embedding" + extent;
  if (name == "final_norm") return "the final norm" + extent;
  if (name == "lm_head") return "the LM head" + extent;
  if (name.starts_with("layer.")) return "layer " + std::string(name.substr(6)) + extent;
  return "extent " + std::string(name);
}

namespace {

// The kHfProjections index of the projection bound to `member`.
size_t ProjectionIndex(WeightView LlamaLayerWeights::*member) {
  const auto it = std::find_if(kHfProjections.begin(), kHfProjections.end(),
                               [&](const HfProjection& p) { return p.member == member; });
  STRATA_CHECK(it != kHfProjections.end());
  return static_cast<size_t>(it - kHfProjections.begin());
}

}  // namespace

std::vector<TensorSpec> ExtentTensorSpecs(const ModelConfig& config, PackDType dtype,
                                          const ExtentId& id, int64_t group_size,
                                          const PermutedProjections& permuted) {
  const int64_t hidden = config.hidden_size;
  switch (id.kind) {
    case ExtentId::Kind::kEmbed: return {{"embed", DType::kBF16, config.vocab_size, hidden, false}};
    case ExtentId::Kind::kFinalNorm: return {{"final_norm", DType::kBF16, 1, hidden, false}};
    case ExtentId::Kind::kLmHead:
      return {{"lm_head", DType::kBF16, config.vocab_size, hidden, false}};
    case ExtentId::Kind::kLayer: break;
  }
  const int64_t inter = config.intermediate_size;
  // (rows, cols) of each kLayerFields entry, in the same order.
  const std::array<std::array<int64_t, 2>, kLayerFields.size()> shapes = {{
      {1, hidden},
      {config.q_dim(), hidden},
      {config.kv_dim(), hidden},
      {config.kv_dim(), hidden},
      {hidden, config.q_dim()},
      {1, hidden},
      {inter, hidden},
      {inter, hidden},
      {hidden, inter},
  }};
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < kLayerFields.size(); ++i) {
    TensorSpec spec{std::string(kLayerFields[i].name), DType::kBF16, shapes[i][0], shapes[i][1]};
    if (kLayerFields[i].projection && dtype == PackDType::kFP8) {
      spec.dtype = DType::kF8E4M3;
      spec.scaled = true;
    } else if (kLayerFields[i].projection && dtype == PackDType::kInt4) {
      spec.dtype = DType::kU4;
      spec.scaled = true;
      spec.group_size = group_size == kInt4GroupPerRow ? spec.cols : group_size;
      spec.col_perm = permuted[ProjectionIndex(kLayerFields[i].member)];
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

PackManifest PlanPack(const ModelConfig& config, PackDType dtype, int64_t group_size,
                      const std::vector<PermutedProjections>& permuted) {
  STRATA_CHECK(permuted.empty() || permuted.size() == static_cast<size_t>(config.num_layers));
  PackManifest m;
  m.dtype = dtype;
  m.config = config;
  m.data_file = std::string(kPackDataFile);
  m.alignment = kDirectIoAlignment;
  uint64_t offset = 0;
  for (const ExtentId& id : PackExtentOrder(config.num_layers)) {
    PackExtent e;
    e.name = ExtentName(id);
    e.offset = offset;
    uint64_t rel = 0;
    const PermutedProjections layer_permuted =
        id.kind == ExtentId::Kind::kLayer && !permuted.empty()
            ? permuted[static_cast<size_t>(id.layer)]
            : PermutedProjections{};
    for (const TensorSpec& s : ExtentTensorSpecs(config, dtype, id, group_size, layer_permuted)) {
      PackTensor t;
      t.name = s.name;
      t.dtype = s.dtype;
      t.rows = s.rows;
      t.cols = s.cols;
      t.group_size = s.group_size;
      t.offset = rel;
      t.bytes = DTypeBytes(s.dtype, s.rows * s.cols);
      rel = AlignUp(rel + t.bytes);
      if (s.scaled) {
        t.scales_offset = rel;
        rel = AlignUp(rel + t.scales_bytes());
      }
      if (s.group_size > 0) {
        t.zeros_offset = rel;
        rel = AlignUp(rel + t.zeros_bytes());
      }
      if (s.col_perm) {
        t.perm_offset = rel;
        rel = AlignUp(rel + t.perm_bytes());
      }
      e.tensors.push_back(std::move(t));
    }
    STRATA_CHECK(rel > 0);
    e.bytes = rel;
    offset += rel;
    m.extents.push_back(std::move(e));
  }
  m.data_bytes = offset;
  return m;
}

std::vector<uint64_t> ExtentSplitPoints(const PackExtent& extent) {
  std::vector<uint64_t> points;
  for (const PackTensor& t : extent.tensors) {
    points.push_back(t.offset);
    if (t.scales_offset) points.push_back(*t.scales_offset);
    if (t.zeros_offset) points.push_back(*t.zeros_offset);
    if (t.perm_offset) points.push_back(*t.perm_offset);
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  std::erase_if(points, [&](uint64_t p) { return p == 0 || p >= extent.bytes; });
  return points;
}

}  // namespace strata
