// Synthetic Llama models for `strata bench`: the layer shapes of a named model with random
// weights (uniform, std 0.02 as transformers initialises; norms 1), written as a pack so the
// benchmark streams them exactly as it would a converted checkpoint — no downloads. The
// vocabulary is cut to kSyntheticVocab: the benchmark measures decoder layers, and a full
// 128k-row embedding and head would only add gigabytes to write.
// Thread-safety: functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/model/config.h"
#include "common/model/llama_presets.h"
#include "common/storage/pack_format.h"
#include "common/storage/pack_writer.h"
#include "common/util/status.h"

namespace strata {

inline constexpr int64_t kSyntheticVocab = 4096;

// LlamaPresetConfig (common/model/llama_presets.h) with the benchmark's vocabulary by
// default (a real tokenizer's size for a pack that serves text).
inline std::optional<ModelConfig> SyntheticConfig(std::string_view preset, int64_t layers,
                                                  int64_t vocab = kSyntheticVocab) {
  return LlamaPresetConfig(preset, layers, vocab);
}

// Writes (crash-safely, as strata pack does) a pack of random weights for `config` to `dir`,
// replacing a pack already there. The manifest's source reads "synthetic:<preset>".
// Different layers hold different bytes. Errors: WritePackFromWeights's; kResourceExhausted
// when the host cannot hold one layer's weights.
// `tokenizer_dir`, when not empty, is where tokenizer.json and its companions are copied from.
StatusOr<PackResult> WriteSyntheticPack(const ModelConfig& config, std::string_view preset,
                                        PackDType dtype, const std::string& dir, uint64_t seed,
                                        const std::string& tokenizer_dir = "");

// True when `dir` holds a pack WriteSyntheticPack made for this preset, config and dtype
// (so a benchmark can reuse it instead of writing gigabytes again).
bool IsSyntheticPack(const std::string& dir, std::string_view preset, const ModelConfig& config,
                     PackDType dtype);

}  // namespace strata
