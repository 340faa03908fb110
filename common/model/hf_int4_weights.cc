// LoadCheckpointWeights and ConvertHfInt4Layer (see hf_int4_weights.h).
#include "common/model/hf_int4_weights.h"

#include <string>
#include <utility>

namespace strata {
namespace {

// Projection `p` of layer `layer` as stored.
HfInt4Source SourceOf(const Checkpoint& checkpoint, int64_t layer, const HfProjection& p) {
  HfInt4Source src;
  src.module = "model.layers." + std::to_string(layer) + "." + std::string(p.module);
  src.qweight = checkpoint.Find(src.module + ".qweight");
  src.qzeros = checkpoint.Find(src.module + ".qzeros");
  src.scales = checkpoint.Find(src.module + ".scales");
  src.g_idx = checkpoint.Find(src.module + ".g_idx");
  const auto [rows, cols] = ProjectionShape(checkpoint.config(), p);
  src.out_features = rows;
  src.in_features = cols;
  return src;
}

}  // namespace

StatusOr<std::array<U4Tensor, kHfProjections.size()>> ConvertHfInt4Layer(
    const Checkpoint& checkpoint, int64_t layer) {
  const HfQuantization& q = checkpoint.quantization();
  if (!q.quantized()) {
    return FailedPrecondition("checkpoint " + checkpoint.dir() + " is not AWQ or GPTQ; its " +
                              "projections need no conversion");
  }
  std::array<U4Tensor, kHfProjections.size()> out;
  for (size_t k = 0; k < kHfProjections.size(); ++k) {
    STRATA_ASSIGN_OR_RETURN(out[k],
                            ConvertHfInt4(SourceOf(checkpoint, layer, kHfProjections[k]), q));
  }
  return out;
}

StatusOr<bool> HfInt4HasActOrder(const Checkpoint& checkpoint) {
  for (int64_t i = 0; i < checkpoint.config().num_layers; ++i) {
    for (const HfProjection& p : kHfProjections) {
      STRATA_ASSIGN_OR_RETURN(const std::vector<int32_t> perm,
                              HfActOrderPermutation(SourceOf(checkpoint, i, p),
                                                    checkpoint.quantization()));
      if (!perm.empty()) return true;
    }
  }
  return false;
}

StatusOr<CheckpointWeights> LoadCheckpointWeights(const Checkpoint& checkpoint) {
  CheckpointWeights w;
  if (!checkpoint.quantization().quantized()) {
    STRATA_ASSIGN_OR_RETURN(w.weights, BindLlamaWeights(checkpoint));
    return w;
  }
  STRATA_ASSIGN_OR_RETURN(w.weights, BindLlamaWeights(checkpoint, BindProjections::kNo));
  const int64_t layers = checkpoint.config().num_layers;
  w.converted.reserve(static_cast<size_t>(layers) * kHfProjections.size());
  for (int64_t i = 0; i < layers; ++i) {
    STRATA_ASSIGN_OR_RETURN(auto converted, ConvertHfInt4Layer(checkpoint, i));
    for (size_t k = 0; k < kHfProjections.size(); ++k) {
      w.converted.push_back(std::move(converted[k]));
      w.weights.layers[static_cast<size_t>(i)].*kHfProjections[k].member = w.converted.back().View();
    }
  }
  return w;
}

}  // namespace strata
