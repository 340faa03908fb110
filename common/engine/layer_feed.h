// LayerFeed: where a forward pass gets each decoder layer's weights. The model asks for the
// layers of its range in order, once per pass; a feed may prefetch ahead (the streaming
// executor) or hand out weights that never move (ResidentLayers).
// Thread-safety: driven by the model's thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "common/model/llama_weights.h"
#include "common/util/status.h"

namespace strata {

class LayerFeed {
 public:
  virtual ~LayerFeed() = default;
  // Starts a pass over the layers (prefetching may begin here). On error no pass is open
  // and EndPass must not be called.
  virtual Status BeginPass() = 0;
  // The weights of `layer`, usable by work issued to the compute stream after this returns
  // (the feed orders the compute stream after the layer's upload). Layers come in order.
  virtual StatusOr<const LlamaLayerWeights*> Acquire(int32_t layer) = 0;
  // The layer's compute has been issued; its buffers may be reused once that work is done.
  virtual void Release(int32_t layer) = 0;
  // Ends the pass (also after an error: stops prefetching and returns every buffer).
  virtual void EndPass() = 0;
};

// Every layer's weights fixed in memory the backend can read (a memory-mapped checkpoint on
// the CPU backend, or layers uploaded once).
class ResidentLayers final : public LayerFeed {
 public:
  explicit ResidentLayers(std::vector<LlamaLayerWeights> layers) : layers_(std::move(layers)) {}
  Status BeginPass() override { return OkStatus(); }
  StatusOr<const LlamaLayerWeights*> Acquire(int32_t layer) override {
    return &layers_[static_cast<size_t>(layer)];
  }
  void Release(int32_t) override {}
  void EndPass() override {}
  int32_t num_layers() const { return static_cast<int32_t>(layers_.size()); }

 private:
  std::vector<LlamaLayerWeights> layers_;
};

}  // namespace strata
