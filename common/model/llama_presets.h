// The shapes of named Llama 3.x models ("llama-3.1-70b", "llama-3.1-8b", and "tiny" — hidden
// 256 — for CPU runs and tests) as configs with a chosen layer count and vocabulary: what
// `strata bench --synthetic` and `strata pack --synthetic` write and what `strata plan`'s
// presets describe, without a checkpoint. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/model/config.h"

namespace strata {

std::vector<std::string_view> LlamaPresetNames();
// The preset's config with `layers` decoder layers and `vocab` tokens; nullopt for an
// unknown name.
std::optional<ModelConfig> LlamaPresetConfig(std::string_view preset, int64_t layers,
                                             int64_t vocab);

}  // namespace strata
