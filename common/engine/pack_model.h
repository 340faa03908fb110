// PackModel: a LlamaModel served from a Strata pack on a backend, executing a placement it is
// given (common/plan/placement.h decides it): the final norm and LM head uploaded once, the
// embedding table uploaded or gathered row by row from a read-only map of the pack, each
// decoder layer in its home behind a StreamingExecutor. It owns everything it opened.
// Thread-safety: one thread drives it.
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
#include "common/util/file.h"

namespace strata {

struct PackModelOptions {
  // The model runs the pack's layers [first_layer, first_layer + num_layers) (-1: to the
  // last layer). Only a range with layer 0 embeds, and only one with the last layer has the
  // final norm and LM head: a middle pipeline stage passes activations on.
  int32_t first_layer = 0;
  int32_t num_layers = -1;
  StreamingOptions streaming;  // homes of the range's layers, slots, ring
  bool embed_on_gpu = false;   // else the table stays in host memory (a map of the pack)
  ReaderOptions reader;        // max_reads is raised to the ring's size when below it
  ServingLimits engine;
};

class PackModel {
 public:
  // Pack::Open's errors; kInvalidArgument for a range not inside the pack;
  // StreamingExecutor::Create's errors; a corrupt embedding/norm/head extent (kDataLoss).
  static StatusOr<std::unique_ptr<PackModel>> Open(Backend& backend, const std::string& dir,
                                                   const PackModelOptions& options);

  const Pack& pack() const { return pack_; }
  int32_t first_layer() const { return first_layer_; }  // pack index of the model's layer 0
  LlamaModel& model() { return *model_; }
  const StreamingExecutor& executor() const { return *executor_; }
  const ExtentReader& reader() const { return *reader_; }
  bool embed_on_gpu() const { return embed_on_gpu_; }
  size_t end_gpu_bytes() const { return end_gpu_bytes_; }  // ends uploaded to the backend

 private:
  explicit PackModel(Pack pack) : pack_(std::move(pack)) {}
  // Reads, checks and uploads one of the end extents into backend memory, through one
  // pinned chunk of the executor's size.
  StatusOr<std::byte*> LoadEnd(Backend& backend, const PackExtent& extent, size_t chunk_bytes);
  // The embedding table in host memory: a read-only map of the pack, checked once.
  StatusOr<const std::byte*> MapEmbedding();

  Pack pack_;
  int32_t first_layer_ = 0;
  bool embed_on_gpu_ = false;
  size_t end_gpu_bytes_ = 0;
  std::unique_ptr<ExtentReader> reader_;
  std::unique_ptr<PackLayerSource> source_;
  std::vector<DeviceBuffer> ends_;  // uploaded end extents in backend memory
  MappedFile map_;                  // weights.bin, when the embedding stays on the host
  std::unique_ptr<StreamingExecutor> executor_;
  std::unique_ptr<LlamaModel> model_;
};

}  // namespace strata
