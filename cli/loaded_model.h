// The model `strata generate` runs: a Hugging Face directory (CPU backend, all layers
// resident in the memory map, an AWQ/GPTQ one's projections converted to int4 in memory) or
// a Strata pack (any backend, layers in their home tiers, streamed by the executor), with
// the backend and files that keep it alive.
// Thread-safety: used by main's thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/backend/backend.h"
#include "common/engine/llama_model.h"
#include "common/engine/pack_model.h"
#include "common/model/checkpoint.h"
#include "common/model/hf_int4_layout.h"
#include "common/engine/pack_placement.h"
#include "common/util/status.h"

namespace strata::cli {

struct ModelFlags {
  std::string model;           // HF directory or pack
  std::string backend = "cpu";
  bool fp8_activations = false;  // CUDA: W8A8 prefill GEMMs for fp8 packs
  int32_t gpu_layers = -1;     // pack only; -1: fit the budgets
  int32_t pinned_layers = -1;
  std::string gpu_mem;         // pack only; "" = default
  std::string pinned_mem;
  int32_t prefetch_ssd = -1;   // -1: chosen from measured stage times
  int32_t prefetch_h2d = -1;
  bool verify_streamed = kVerifyStreamedByDefault;
};

struct LoadedModel {
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Checkpoint> checkpoint;  // HF directory
  std::vector<U4Tensor> converted;         // an AWQ/GPTQ directory's projections, in kU4
  std::unique_ptr<LlamaModel> resident;    // over `checkpoint`
  std::unique_ptr<PackModel> pack;         // Strata pack
  std::optional<PackPlacement> placement;  // how the pack's layers were placed
  LlamaModel& model() { return pack ? pack->model() : *resident; }
};

// Errors: the backend's; --backend cuda or tier flags with an HF directory
// (kInvalidArgument, saying to pack it); the loaders'.
StatusOr<LoadedModel> LoadModel(const ModelFlags& flags, const ServingLimits& engine);

}  // namespace strata::cli
