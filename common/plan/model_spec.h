// The planner's view of a Llama model (ModelSpec) from its config: the ends in bf16 (as
// every pack dtype keeps them), activations and the KV cache in fp32 as the engine keeps
// them, and the engine's scratch memory as LlamaModel::MemoryBytes allocates it. One home
// for these figures: the coordinator plans with it, `strata plan`'s presets are built with
// it. Thread-safety: pure function.
#pragma once

#include <cstddef>

#include "common/model/config.h"
#include "common/plan/cost_model.h"

namespace strata {

// `layer_bytes`: one decoder layer's extent in the pack (it depends on the pack's dtype).
ModelSpec ModelSpecFor(const ModelConfig& config, size_t layer_bytes);

}  // namespace strata
