// Paths of the files a model directory holds, and loading the ones the CLI needs, with
// errors that say which file is missing and what a model directory must contain.
// Thread-safety: functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model/config.h"
#include "common/tokenizer/tokenizer.h"
#include "common/util/status.h"

namespace strata::cli {

// DIR must exist and hold tokenizer.json (kNotFound otherwise, naming both).
StatusOr<Tokenizer> LoadTokenizer(const std::string& model_dir);

// The ids that end generation: config.json's eos_token_id plus generation_config.json's
// when that file exists (as Hugging Face generate() uses).
StatusOr<std::vector<int64_t>> LoadStopIds(const std::string& model_dir,
                                           const ModelConfig& config);

}  // namespace strata::cli
