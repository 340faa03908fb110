// Binds a checkpoint's tensors to the Llama 3.x layout the engine computes with, checking
// that every tensor exists with the shape the config implies. No weights are copied.
// Thread-safety: plain views; valid while the Checkpoint (or pack) that owns the bytes lives.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/model/dtype.h"
#include "common/util/status.h"

namespace strata {

// A row-major 2-D weight (rows, cols) in its storage dtype. A 1-D tensor (a norm weight) is
// (1, cols). `data` has no alignment guarantee. kF8E4M3 weights carry one float32 scale per
// row (output channel): the real weight is float(data[r][c]) * scales[r]. kU4 weights carry
// bf16 scales and zero points per group of `group_size` columns of a row (int4_weights.h):
// the real weight of stored column j is (q[r][j] - group_zeros[r][g]) * group_scales[r][g],
// g = j / group_size, and it multiplies input column col_perm[j] (j itself without col_perm).
struct WeightView {
  const std::byte* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const float* scales = nullptr;  // (rows) for kF8E4M3, else nullptr
  // kU4 only, else null / 0:
  const uint16_t* group_scales = nullptr;  // (rows, cols / group_size) bf16
  const uint16_t* group_zeros = nullptr;   // (rows, cols / group_size) bf16
  int64_t group_size = 0;
  const int32_t* col_perm = nullptr;  // (cols) act-order checkpoints' input order, or null

  int64_t numel() const { return rows * cols; }
  size_t nbytes() const { return DTypeBytes(dtype, numel()); }
  int64_t groups_per_row() const { return group_size > 0 ? cols / group_size : 0; }
};

// HF names: model.layers.{i}.<field>. Shapes with q = heads*head_dim, kv = kv_heads*head_dim.
struct LlamaLayerWeights {
  WeightView attn_norm;  // input_layernorm            (1, hidden)
  WeightView wq;         // self_attn.q_proj           (q, hidden)
  WeightView wk;         // self_attn.k_proj           (kv, hidden)
  WeightView wv;         // self_attn.v_proj           (kv, hidden)
  WeightView wo;         // self_attn.o_proj           (hidden, q)
  WeightView mlp_norm;   // post_attention_layernorm   (1, hidden)
  WeightView w_gate;     // mlp.gate_proj              (intermediate, hidden)
  WeightView w_up;       // mlp.up_proj                (intermediate, hidden)
  WeightView w_down;     // mlp.down_proj              (hidden, intermediate)
};

struct LlamaWeights {
  WeightView embed;       // model.embed_tokens        (vocab, hidden)
  std::vector<LlamaLayerWeights> layers;
  WeightView final_norm;  // model.norm                (1, hidden)
  WeightView lm_head;     // lm_head, or embed when tie_word_embeddings (vocab, hidden)
};

// The seven projections of a decoder layer: their Hugging Face module names (under
// model.layers.{i}.; the weight is MODULE.weight, or MODULE.qweight etc. in AWQ/GPTQ
// checkpoints), their fields, and which activations they read: q, k and v read the attention
// norm's output, gate and up the MLP norm's, o and down each their own. Projections reading
// one input multiply the same x (a backend may run them as one GEMV).
struct HfProjection {
  std::string_view module;
  WeightView LlamaLayerWeights::*member;
  int input;  // equal for the projections that read the same activations
};
inline constexpr std::array<HfProjection, 7> kHfProjections = {{
    {"self_attn.q_proj", &LlamaLayerWeights::wq, 0},
    {"self_attn.k_proj", &LlamaLayerWeights::wk, 0},
    {"self_attn.v_proj", &LlamaLayerWeights::wv, 0},
    {"self_attn.o_proj", &LlamaLayerWeights::wo, 1},
    {"mlp.gate_proj", &LlamaLayerWeights::w_gate, 2},
    {"mlp.up_proj", &LlamaLayerWeights::w_up, 2},
    {"mlp.down_proj", &LlamaLayerWeights::w_down, 3},
}};

// (rows, cols) = (out_features, in_features) of projection `p` for `config`.
std::array<int64_t, 2> ProjectionShape(const ModelConfig& config, const HfProjection& p);

// Whether BindLlamaWeights binds the projections too, or leaves them empty (data null) for
// the caller to fill: the converted projections of an AWQ/GPTQ checkpoint (hf_int4_weights.h).
enum class BindProjections { kYes, kNo };

// Errors (kDataLoss) name the tensor, its file, and both shapes: a missing tensor, a shape
// that disagrees with the config, an I32 tensor. An lm_head missing from an untied checkpoint
// is an error; a tied one uses the embedding (as HF does, even when lm_head.weight is
// present). kFailedPrecondition for kYes on an AWQ/GPTQ checkpoint, whose projections must be
// converted: LoadCheckpointWeights (hf_int4_weights.h) does it.
StatusOr<LlamaWeights> BindLlamaWeights(const Checkpoint& checkpoint,
                                        BindProjections projections = BindProjections::kYes);

}  // namespace strata
