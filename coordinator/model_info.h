// What the coordinator knows of the model it serves: the names clients call it by, the
// config (for the plan and to check that workers serve the same model), the pack dtype when
// known, the tokenizer, the chat template and the ids that end generation. Read from a
// Strata pack directory (manifest.json + tokenizer files; weights.bin is not needed here) or
// a Hugging Face directory (config.json + tokenizer files). Thread-safety: immutable after
// LoadModelInfo.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model/config.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace strata::coordinator {

struct ModelInfo {
  // Served model names: the first is the name responses carry, the rest aliases a request's
  // `model` may use. By default the Hugging Face checkpoint directory's name (for a pack, the
  // one it was made from, then the pack directory's as an alias); --served-model-name
  // replaces them.
  std::vector<std::string> names;
  const std::string& name() const { return names.front(); }
  ModelConfig config;
  std::string dtype;  // "bf16" | "fp8" for a pack; empty for a Hugging Face directory
  std::shared_ptr<const Tokenizer> tokenizer;
  // tokenizer_config.json's chat template; null with `chat_template_error` saying why (no
  // such file, no template, a template that does not parse): chat requests then get a 400.
  std::shared_ptr<const ChatTemplate> chat_template;
  std::string chat_template_error;
  std::vector<int32_t> stop_ids;  // config eos_token_id(s) plus generation_config.json's
};

// Errors name the directory and the file that is missing or invalid.
StatusOr<ModelInfo> LoadModelInfo(const std::string& dir);

}  // namespace strata::coordinator
