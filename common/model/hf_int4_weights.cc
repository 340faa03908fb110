// LoadCheckpointWeights, ConvertHfInt4Layer and HfInt4ActOrdered (see hf_int4_weights.h).
#include "common/model/hf_int4_weights.h"

#include <string>
#include <utility>

#include "common/model/int4_weights.h"

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

StatusOr<std::vector<std::array<bool, kHfProjections.size()>>> HfInt4ActOrdered(
    const Checkpoint& checkpoint) {
  std::vector<std::array<bool, kHfProjections.size()>> ordered(
      static_cast<size_t>(checkpoint.config().num_layers));
  for (size_t i = 0; i < ordered.size(); ++i) {
    for (size_t k = 0; k < kHfProjections.size(); ++k) {
      STRATA_ASSIGN_OR_RETURN(
          const std::vector<int32_t> perm,
          HfActOrderPermutation(SourceOf(checkpoint, static_cast<int64_t>(i), kHfProjections[k]),
                                checkpoint.quantization()));
      ordered[i][k] = !perm.empty();
    }
  }
  return ordered;
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
    SharePermutations(w.weights.layers[static_cast<size_t>(i)]);
  }
  return w;
}

}  // namespace strata
