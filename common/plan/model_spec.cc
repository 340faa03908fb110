// ModelSpecFor and WithLayerBytes (see model_spec.h).
#include "common/plan/model_spec.h"

#include <utility>
#include <vector>

#include "common/model/forward_memory.h"

namespace strata {
namespace {

constexpr size_t kBf16Bytes = 2;
constexpr size_t kF32Bytes = 4;

// Layer 0's extent in the pack the writer makes of `config` as `dtype`.
PackExtent LayerExtent(const ModelConfig& config, PackDType dtype) {
  if (config.num_layers < 1) return {};
  PackManifest plan = PlanPack(config, dtype);
  return std::move(plan.extents[CanonicalExtentIndex({ExtentId::Kind::kLayer, 0},
                                                     config.num_layers)]);
}

}  // namespace

ModelSpec ModelSpecFor(const ModelConfig& config, PackDType dtype) {
  const auto hidden = static_cast<size_t>(config.hidden_size);
  const auto vocab = static_cast<size_t>(config.vocab_size);
  ModelSpec m;
  m.layers = static_cast<int32_t>(config.num_layers);
  const PackExtent layer = LayerExtent(config, dtype);
  m.layer_bytes = layer.bytes;
  for (const uint64_t point : ExtentSplitPoints(layer)) m.layer_split_points.push_back(point);
  m.first_end_bytes = vocab * hidden * kBf16Bytes;
  m.last_end_bytes = vocab * hidden * kBf16Bytes + hidden * kBf16Bytes;
  m.activation_bytes_per_token = hidden * kF32Bytes;
  m.kv_bytes_per_token_per_layer = 2 * static_cast<size_t>(config.kv_dim()) * kF32Bytes;
  // The engine's scratch without a KV cache: a fixed part (logits rows, RoPE table) and a
  // part per batch token, from two sizes of the same allocation.
  ModelConfig no_layers = config;
  no_layers.num_layers = 0;
  ServingLimits one;
  one.max_batch_tokens = 1;
  ServingLimits two = one;
  two.max_batch_tokens = 2;
  const size_t at_one = ForwardDeviceBytes(no_layers, one);
  m.scratch_bytes_per_token = ForwardDeviceBytes(no_layers, two) - at_one;
  m.scratch_fixed_bytes = at_one;
  return m;
}

ModelSpec WithLayerBytes(ModelSpec model, size_t layer_bytes) {
  model.layer_bytes = layer_bytes;
  std::erase_if(model.layer_split_points, [&](size_t point) { return point >= layer_bytes; });
  return model;
}

}  // namespace strata
