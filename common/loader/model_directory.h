// The one loader of a model directory, for the CLI, the worker and the coordinator: a Strata
// pack (manifest.json; weights.bin is the engine's to open) or a Hugging Face checkpoint
// (config.json), and beside the weights what serving the model needs — tokenizer.json, the
// chat template of tokenizer_config.json, the ids that end generation, the names clients call
// it by. Errors name the directory and the file that is missing or invalid, and say what a
// model directory must hold. Thread-safety: functions without shared state; a ModelDirectory
// is immutable once loaded (its tokenizer and template are shared read-only).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model/config.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace strata {

struct ModelDirectory {
  std::string path;
  bool is_pack = false;
  ModelConfig config;
  std::string dtype;  // "bf16" | "fp8" for a pack; empty for a Hugging Face directory
  // The names clients call the model by, the first the one responses carry: the Hugging Face
  // checkpoint directory's name (for a pack, the one it was made from, then the pack
  // directory's as an alias).
  std::vector<std::string> names;
  const std::string& name() const { return names.front(); }

  // LoadModelDirectory only (null / empty after OpenModelDirectory):
  std::shared_ptr<const Tokenizer> tokenizer;
  // Null with `chat_template_error` saying why (no tokenizer_config.json, no template, a
  // template that does not parse): the model still serves plain completions.
  std::shared_ptr<const ChatTemplate> chat_template;
  std::string chat_template_error;
  // config.json's eos_token_id(s), then generation_config.json's (as Hugging Face
  // generate() stops), without repeats.
  std::vector<int32_t> stop_ids;
};

// True when `dir` holds manifest.json (a Strata pack).
bool IsPackDirectory(const std::string& dir);

// The directory's kind, config, dtype and names: config.json or manifest.json only.
StatusOr<ModelDirectory> OpenModelDirectory(const std::string& dir);

// All of it: OpenModelDirectory's, the tokenizer, the chat template and the stop ids.
StatusOr<ModelDirectory> LoadModelDirectory(const std::string& dir);

// tokenizer.json of `dir` (kNotFound naming the directory and the file when either is
// missing); for commands that need only the tokenizer.
StatusOr<Tokenizer> LoadTokenizerOf(const std::string& dir);

}  // namespace strata
