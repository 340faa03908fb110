// ModelConfig: the parts of a Hugging Face Llama 3.x `config.json` that define the
// computation, parsed and validated. Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace strata {

struct RopeScaling {
  enum class Type { kNone, kLlama3 };
  Type type = Type::kNone;
  // llama3 only:
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 1.0;
  int64_t original_max_position_embeddings = 0;
};

struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;    // num_hidden_layers
  int64_t num_heads = 0;     // num_attention_heads
  int64_t num_kv_heads = 0;  // num_key_value_heads (defaults to num_heads)
  int64_t head_dim = 0;      // explicit `head_dim`, else hidden_size / num_heads
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;              // -1 when absent
  std::vector<int64_t> eos_token_ids;     // `eos_token_id` as int or list

  int64_t q_dim() const { return num_heads * head_dim; }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }
};

// Parses and validates config.json text. `source` (usually the path) is named in errors.
// Unsupported architectures, activations, biases or rope types give kUnimplemented;
// missing or out-of-range fields give kInvalidArgument naming the field.
StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, const std::string& source);
StatusOr<ModelConfig> LoadModelConfig(const std::string& path);

// Serialises to config.json form (the fields above, HF names); ParseModelConfig reads it back
// to an equal ModelConfig. Used by pack manifests.
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace strata
