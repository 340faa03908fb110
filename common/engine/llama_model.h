// LlamaModel: the Llama 3.x forward pass over a Backend for a batch of sequences — embed,
// decoder layers (RMSNorm, GQA attention with RoPE and the KV cache, SwiGLU MLP), final norm
// and LM head. Layer weights come from a LayerFeed (resident or streamed); the embedding,
// final norm and LM head are resident: the norm and head in device memory, the embedding there
// or in host memory (EndWeights::embed_on_host), from which each step gathers only its tokens'
// rows. It owns the KV cache, the activation scratch and, for a host embedding, a pinned
// gather buffer, all allocated once at Create for `max_batch_tokens` tokens; Forward
// allocates nothing.
// Thread-safety: one thread drives an instance.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/backend/activation_memory.h"
#include "common/backend/backend.h"
#include "common/engine/kv_cache.h"
#include "common/engine/layer_feed.h"
#include "common/model/config.h"
#include "common/model/forward_memory.h"
#include "common/model/llama_weights.h"
#include "common/serving/serving_limits.h"
#include "common/util/status.h"

namespace strata {

enum class LogitsMode {
  kLastToken,  // one row per sequence: its last token in the batch
  kAllTokens,  // one row per token
};

// The weights a model keeps resident whatever the layers' tiers. A pipeline stage has only
// the ones it uses: the first the embedding, the last the final norm and LM head; the others
// are left empty (data == nullptr).
struct EndWeights {
  WeightView embed;       // (vocab, hidden)
  WeightView final_norm;  // (1, hidden)
  WeightView lm_head;     // (vocab, hidden)
  // false: embed.data is the backend's device memory and the backend's Embed reads it.
  // true: embed.data (and embed.scales, if any) is host memory — typically a read-only memory
  // map of the pack's embedding extent, rows in embed.dtype — readable for the model's life;
  // each step converts its tokens' rows to fp32 on the host and copies them to the device, so
  // the table costs no device memory. The embeddings are bit-identical either way.
  bool embed_on_host = false;
};

class LlamaModel {
 public:
  // `feed` supplies config.num_layers layers and must outlive the model, as must the weights
  // (views). Errors: options out of range, or ends.embed_on_host with no table or a table
  // that is not (vocab, hidden) (kInvalidArgument); memory (kResourceExhausted).
  static StatusOr<std::unique_ptr<LlamaModel>> Create(Backend& backend, const ModelConfig& config,
                                                      const EndWeights& ends, LayerFeed& feed,
                                                      const ServingLimits& options);
  // All layers resident (views into `weights`, e.g. a memory-mapped checkpoint); the model
  // owns the feed.
  static StatusOr<std::unique_ptr<LlamaModel>> CreateResident(Backend& backend,
                                                              const ModelConfig& config,
                                                              LlamaWeights weights,
                                                              const ServingLimits& options);
  // Waits for the last copy out of the host embedding's gather buffer before freeing it.
  ~LlamaModel();

  // It allocates ForwardDeviceBytes and ForwardPinnedBytes (common/model/forward_memory.h).

  const ModelConfig& config() const { return config_; }
  const ServingLimits& options() const { return options_; }
  KvCache& kv_cache() { return kv_; }
  int32_t max_seq_len() const { return kv_.max_seq_len(); }
  Backend& backend() { return backend_; }

  // Runs `batch` through all layers, appends its tokens to each sequence's KV cache and
  // writes float32 logits (rows per `mode`, vocab) to *logits. Errors (kInvalidArgument,
  // nothing is changed): a token id outside the vocabulary, more tokens than
  // max_batch_tokens, a sequence whose slot is not acquired, whose start_pos is not its
  // cached length, or that would pass max_seq_len.
  Status Forward(const BatchLayout& batch, LogitsMode mode, std::vector<float>* logits);

  // One pipeline stage's share of Forward, for a model over a slice of the layers (the
  // cluster). The input is the batch's tokens, embedded here, when `hidden_in` is empty, else
  // the residual stream (T, hidden) fp32 from the previous stage. The output is the residual
  // stream after this model's layers, copied to `hidden_out` (T * hidden floats), or — when
  // `hidden_out` is null — the logits as Forward writes them, and/or in `greedy` each logits
  // row's argmax (the lowest id among equals) found on the backend, so a greedy step copies
  // no logits to the host (logits may then be null). `memory` says where hidden_in and
  // hidden_out are (see ActivationMemory). Errors: Forward's; a stage without the embedding
  // given no hidden_in, or without the LM head asked for logits, or a hidden_in of the wrong
  // size (kInvalidArgument).
  Status ForwardStage(const BatchLayout& batch, std::span<const float> hidden_in,
                      float* hidden_out, LogitsMode mode, std::vector<float>* logits,
                      ActivationMemory memory = ActivationMemory::kHost,
                      std::vector<int32_t>* greedy = nullptr);

  // Called with the residual stream (T, hidden) after the embedding (layer -1) and after
  // every layer; for diagnostics and tests. Empty by default.
  using LayerObserver = std::function<void(int32_t layer, Tensor hidden)>;
  void set_layer_observer(LayerObserver observer) { observer_ = std::move(observer); }

 private:
  // Activations for up to max_batch_tokens tokens, carved from one buffer in the order and
  // shapes of ActivationShapes.
  struct Scratch {
    DeviceBuffer storage;
    Tensor x;       // (T, hidden) residual stream
    Tensor xn;      // (T, hidden) normalised input of a sub-block
    Tensor q;       // (T, q_dim)
    Tensor k;       // (T, kv_dim)
    Tensor v;       // (T, kv_dim)
    Tensor attn;    // (T, q_dim) attention output before o_proj
    Tensor gate;    // (T, intermediate)
    Tensor up;      // (T, intermediate)
    Tensor proj;    // (T, hidden) o_proj / down_proj output
    Tensor logits;  // (logits_rows, vocab)
    Tensor inv_freq;  // (1, head_dim / 2)
  };

  LlamaModel(Backend& backend, const ModelConfig& config, const EndWeights& ends,
             LayerFeed& feed, const ServingLimits& options, KvCache kv);
  Status Validate(const BatchLayout& batch) const;
  // The tree span batch.seqs[i]: its masks and positions (see SeqSpan::tree_base).
  Status ValidateTree(const BatchLayout& batch, size_t i) const;
  Status AllocateScratch();
  Status AllocateEmbedGather();
  // x (T, hidden) = the batch's rows of the host embedding table, gathered into the pinned
  // buffer and copied on the compute stream.
  void EmbedFromHost(const BatchLayout& batch, Tensor x);
  // Runs every layer through the feed's pass (begun by the caller) and ends the pass.
  Status RunLayers(int32_t n_tokens);
  void RunLayer(const LlamaLayerWeights& w, int32_t layer, int32_t n_tokens);
  // Final norm + LM head over rows of `hidden`, in chunks of logits rows: the logits copied
  // to the host, and/or their argmax per row (either may be null).
  void ComputeLogits(Tensor hidden, std::vector<float>* logits, std::vector<int32_t>* greedy);

  Backend& backend_;
  ModelConfig config_;
  EndWeights ends_;
  LayerFeed& feed_;
  std::unique_ptr<LayerFeed> owned_feed_;  // set by CreateResident
  ServingLimits options_;
  KvCache kv_;
  Scratch s_;
  // Host embedding only (else empty): the batch's rows in fp32, and an event recorded after
  // each copy out of them, which the next step waits for before writing the buffer again.
  DeviceBuffer embed_gather_;  // (max_batch_tokens, hidden) fp32, pinned host memory
  std::unique_ptr<BackendEvent> embed_gather_copied_;
  LayerObserver observer_;
};

}  // namespace strata
