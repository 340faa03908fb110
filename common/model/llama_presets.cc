// The preset shapes (see llama_presets.h).
#include "common/model/llama_presets.h"

namespace strata {
namespace {

ModelConfig Llama31(int64_t hidden, int64_t intermediate, int64_t heads, int64_t layers,
                    int64_t vocab) {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = 8;
  c.head_dim = hidden / heads;
  c.vocab_size = vocab;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling.type = RopeScaling::Type::kLlama3;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 8192;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

}  // namespace

std::vector<std::string_view> LlamaPresetNames() {
  return {"llama-3.1-70b", "llama-3.1-8b", "tiny"};
}

std::optional<ModelConfig> LlamaPresetConfig(std::string_view preset, int64_t layers, int64_t vocab) {
  if (preset == "llama-3.1-70b") return Llama31(8192, 28672, 64, layers, vocab);
  if (preset == "llama-3.1-8b") return Llama31(4096, 14336, 32, layers, vocab);
  if (preset == "tiny") {
    ModelConfig c = Llama31(256, 768, 8, layers, vocab);
    c.num_kv_heads = 2;
    return c;
  }
  return std::nullopt;
}

}  // namespace strata
