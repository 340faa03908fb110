// PackModel: a LlamaModel served from a Strata pack on a backend — the embedding, final norm
// and LM head uploaded once, each decoder layer in its home tier (GPU, pinned, SSD) behind a
// StreamingExecutor. It owns everything it opened. Thread-safety: one thread drives it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/backend/backend.h"
#include "common/engine/llama_model.h"
#include "common/engine/pack_layer_source.h"
#include "common/engine/streaming_executor.h"
#include "common/storage/extent_reader.h"
#include "common/storage/pack.h"

namespace strata {

struct PackModelOptions {
  // The model runs the pack's layers [first_layer, first_layer + num_layers) (-1: to the
  // last layer). Only a range with layer 0 loads the embedding, and only one with the last
  // layer the final norm and LM head: a middle pipeline stage passes activations on.
  int32_t first_layer = 0;
  int32_t num_layers = -1;
  int32_t gpu_layers = -1;     // layers resident in GPU memory; -1: as many as fit gpu_mem
  int32_t pinned_layers = -1;  // then layers in pinned memory; -1: as many as fit pinned_mem
  size_t gpu_mem = 0;          // bytes for layers and slots; 0: the device's memory less what
                               // the model needs besides (all host memory on the CPU backend)
  size_t pinned_mem = 0;       // bytes of pinned memory; 0: half the available host memory
  int32_t prefetch_ssd = -1;   // layers the reads run ahead; -1: from measured stage times
  int32_t prefetch_h2d = -1;   // layers the copies run ahead; -1: from measured stage times
  bool verify_streamed = false;
  ReaderOptions reader;
  EngineOptions engine;
};

// One layer's stage times measured at Open: an SSD read of its extent, the copy to the
// device, and its compute for one decode token.
struct StageEstimate {
  double ssd_ms = 0;
  double h2d_ms = 0;
  double compute_ms = 0;
};

class PackModel {
 public:
  // Pack::Open's errors; kInvalidArgument for layer counts or budgets that do not fit the
  // pack; StreamingExecutor::Create's errors; a corrupt embedding/norm/head extent (kDataLoss).
  static StatusOr<std::unique_ptr<PackModel>> Open(Backend& backend, const std::string& dir,
                                                   const PackModelOptions& options);

  const Pack& pack() const { return pack_; }
  int32_t first_layer() const { return first_layer_; }  // pack index of the model's layer 0
  LlamaModel& model() { return *model_; }
  const StreamingExecutor& executor() const { return *executor_; }
  const ExtentReader& reader() const { return *reader_; }
  // Set when a prefetch distance was left to be chosen (-1), else all zero.
  const StageEstimate& stage_estimate() const { return estimate_; }

 private:
  explicit PackModel(Pack pack) : pack_(std::move(pack)) {}
  // Reads, checks and uploads one of the end extents into backend memory.
  StatusOr<std::byte*> LoadEnd(Backend& backend, const PackExtent& extent);
  StatusOr<std::vector<Tier>> ChooseTiers(Backend& backend, const PackModelOptions& options,
                                          const ModelConfig& config, size_t end_bytes) const;
  // Times the first layer's read, copy and decode compute (the compute as the difference of
  // a one-layer and a no-layer model's forward pass, so the head is not counted).
  StatusOr<StageEstimate> MeasureStages(Backend& backend, const EndWeights& ends);

  Pack pack_;
  int32_t first_layer_ = 0;
  std::unique_ptr<ExtentReader> reader_;
  std::unique_ptr<PackLayerSource> source_;
  std::vector<DeviceBuffer> ends_;  // embed, final_norm, lm_head extents in backend memory
  std::unique_ptr<StreamingExecutor> executor_;
  std::unique_ptr<LlamaModel> model_;
  StageEstimate estimate_;
};

}  // namespace strata
