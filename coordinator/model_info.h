// What the coordinator knows of the model it serves: the config (for the plan and to check
// that workers serve the same model), the pack dtype when known, the tokenizer and the ids
// that end generation. Read from a Strata pack directory (manifest.json + tokenizer.json;
// weights.bin is not needed here) or a Hugging Face directory (config.json +
// tokenizer.json). Thread-safety: immutable after LoadModelInfo.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model/config.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace strata::coordinator {

struct ModelInfo {
  std::string name;   // served model name: the directory's last component
  ModelConfig config;
  std::string dtype;  // "bf16" | "fp8" for a pack; empty for a Hugging Face directory
  std::shared_ptr<const Tokenizer> tokenizer;
  std::vector<int32_t> stop_ids;  // config eos_token_id(s) plus generation_config.json's
};

// Errors name the directory and the file that is missing or invalid.
StatusOr<ModelInfo> LoadModelInfo(const std::string& dir);

}  // namespace strata::coordinator
