// The planner's view of a Llama model (ModelSpec) from its config and pack dtype: a layer's
// bytes and split points from the pack writer's layout (PlanPack), the ends in bf16 (as
// every pack dtype keeps them), activations and the KV cache in fp32 as the engine keeps
// them, and the engine's scratch memory as ForwardDeviceBytes gives it. One home
// for these figures: the coordinator plans with it, `strata plan`'s presets are built with
// it. Thread-safety: pure functions.
#pragma once

#include <cstddef>

#include "common/model/config.h"
#include "common/plan/cost_model.h"
#include "common/storage/pack_format.h"

namespace strata {

// The model packed as `dtype`: layer_bytes is one layer's extent in that pack, and
// layer_split_points where it may be cut between tensors (ExtentSplitPoints).
ModelSpec ModelSpecFor(const ModelConfig& config, PackDType dtype);

// `model` with a layer of `layer_bytes` instead (a pack's registered extent, a measured
// figure): the split points at or past it are dropped.
ModelSpec WithLayerBytes(ModelSpec model, size_t layer_bytes);

}  // namespace strata
