// BindLlamaWeights: looks up every Llama 3.x tensor by its Hugging Face name and checks its
// shape against the config. Thread-safety: a pure function over an immutable Checkpoint.
#include "common/model/llama_weights.h"

#include <string>

namespace strata {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The tensor `name` with exactly `shape` (1-D for norms, 2-D for matrices), as (rows, cols).
StatusOr<WeightView> Bind(const Checkpoint& checkpoint, const std::string& name,
                          const std::vector<int64_t>& shape) {
  const TensorInfo* t = checkpoint.Find(name);
  if (t == nullptr) {
    return DataLoss("tensor '" + name + "' is missing from checkpoint " + checkpoint.dir() +
                    "; the download is incomplete, or this is not a Llama checkpoint");
  }
  if (t->shape != shape) {
    return DataLoss("tensor '" + name + "' in " + t->file + " has shape " + t->ShapeString() +
                    ", but config.json in " + checkpoint.dir() + " implies " + ShapeString(shape) +
                    "; the config and the weights do not belong together");
  }
  if (t->i32) {
    return DataLoss("tensor '" + name + "' in " + t->file + " is I32, not a float tensor; " +
                    "the checkpoint is corrupt or config.json lacks its quantization_config");
  }
  WeightView v;
  v.data = t->data;
  v.dtype = t->dtype;
  v.rows = shape.size() == 1 ? 1 : shape[0];
  v.cols = shape.back();
  return v;
}

}  // namespace

std::array<int64_t, 2> ProjectionShape(const ModelConfig& c, const HfProjection& p) {
  const int64_t hidden = c.hidden_size;
  if (p.member == &LlamaLayerWeights::wq) return {c.q_dim(), hidden};
  if (p.member == &LlamaLayerWeights::wk || p.member == &LlamaLayerWeights::wv) {
    return {c.kv_dim(), hidden};
  }
  if (p.member == &LlamaLayerWeights::wo) return {hidden, c.q_dim()};
  if (p.member == &LlamaLayerWeights::w_down) return {hidden, c.intermediate_size};
  return {c.intermediate_size, hidden};  // gate and up
}

StatusOr<LlamaWeights> BindLlamaWeights(const Checkpoint& checkpoint,
                                        BindProjections projections) {
  const ModelConfig& c = checkpoint.config();
  if (projections == BindProjections::kYes && checkpoint.quantization().quantized()) {
    return FailedPrecondition("checkpoint " + checkpoint.dir() + " is " +
                              DescribeHfQuantization(checkpoint.quantization()) +
                              "; its projections are converted by LoadCheckpointWeights");
  }
  const int64_t hidden = c.hidden_size;
  LlamaWeights w;
  STRATA_ASSIGN_OR_RETURN(w.embed,
                          Bind(checkpoint, "model.embed_tokens.weight", {c.vocab_size, hidden}));
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LlamaLayerWeights& l = w.layers[static_cast<size_t>(i)];
    STRATA_ASSIGN_OR_RETURN(l.attn_norm, Bind(checkpoint, p + "input_layernorm.weight", {hidden}));
    STRATA_ASSIGN_OR_RETURN(l.mlp_norm,
                            Bind(checkpoint, p + "post_attention_layernorm.weight", {hidden}));
    if (projections == BindProjections::kNo) continue;
    for (const HfProjection& proj : kHfProjections) {
      const auto [rows, cols] = ProjectionShape(c, proj);
      STRATA_ASSIGN_OR_RETURN(l.*proj.member,
                              Bind(checkpoint, p + std::string(proj.module) + ".weight", {rows, cols}));
    }
  }
  STRATA_ASSIGN_OR_RETURN(w.final_norm, Bind(checkpoint, "model.norm.weight", {hidden}));
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
  } else {
    STRATA_ASSIGN_OR_RETURN(w.lm_head, Bind(checkpoint, "lm_head.weight", {c.vocab_size, hidden}));
  }
  return w;
}

}  // namespace strata
