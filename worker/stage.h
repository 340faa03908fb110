// Stage: one worker's pipeline stage under an Assignment — its slice of the pack's layers as
// a PackModel, the open sequences (KV slot each; on the last stage, the sampler), and the
// data-plane links of the assignment's transport (common/transport): an input link from the
// previous stage (every stage but the first) and an output link to the next (every stage but
// the last). It turns a Step (first stage) or a received activation message into activations
// sent on, or sampled tokens (last stage). A step may carry token trees (speculative
// decoding): every stage runs them with tree attention after keeping the accepted nodes of
// the sequence's previous tree; the last stage walks each tree and, with a draft model
// (Speculator), proposes the next.
//
// Set-up takes two steps because both ends of a link must exist before either can join it:
// Create listens (the input link's address is known from then on) and allocates the links'
// buffers; Connect, when the coordinator says so, opens the input link and connects the
// output link to the next stage's address at once (for NCCL both ends of a link join
// together, within the link timeout).
// Activations are (tokens, hidden) fp32 in the links' buffers, in the transport's memory
// (transport::AllocateLinkBuffer), allocated once at Create: one receive buffer, two send
// buffers (send_buffers.h).
// Thread-safety: OpenSequence/CloseSequence (control thread) and Run* (compute thread) may
// run concurrently; a mutex orders them. Connect before the first Run*.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/backend/backend.h"
#include "common/engine/pack_model.h"
#include "common/engine/pack_placement.h"
#include "common/engine/sampler.h"
#include "common/proto/strata_control.pb.h"
#include "common/transport/transport.h"
#include "common/transport/transport_factory.h"
#include "worker/send_buffers.h"
#include "worker/speculator.h"

namespace strata::worker {

struct StageOptions {
  std::string pack_dir;
  bool verify_streamed = kVerifyStreamedByDefault;  // checksum every streamed layer
  transport::LinkSettings link;  // its transport is the assignment's
};

// A token sampled on the last stage, for a StepResult's SampledToken.
struct SampledToken {
  uint64_t seq_id = 0;
  int32_t token = 0;
  TokenLogprobs logprobs;  // with the sequence's Sampling.logprobs; else 0 and no list
};

// What a step produced: the tokens sampled on the last stage (for StepResult), or why the
// step failed here (for StepFailed).
struct StepOutput {
  uint64_t step_id = 0;
  Status status;
  std::vector<SampledToken> tokens;
  bool prefill = false;     // the step held a prefill chunk (some slice starts in its prompt)
  int32_t step_tokens = 0;  // tokens the step ran through this stage's layers
  // Last stage, speculating sequences: accepted nodes and the next trees; the draft's time.
  std::vector<control::v1::SpeculativeOutcome> speculative;
  double draft_ms = 0.0;
};

class Stage {
 public:
  // Loads the slice and creates its links (the input link's address is known from here on).
  // Errors: the pack's, an assignment that does not fit it (kInvalidArgument), the links'.
  static StatusOr<std::unique_ptr<Stage>> Create(Backend& backend,
                                                 const control::v1::Assignment& assignment,
                                                 const StageOptions& options);
  ~Stage();

  const control::v1::Assignment& assignment() const { return assignment_; }
  bool first() const { return assignment_.stage() == 0; }
  bool last() const { return assignment_.stage() == assignment_.num_stages() - 1; }
  // The input link's address; empty on the first stage.
  const std::string& data_address() const;

  // Opens the input link and connects the output link to `next_address` (empty on the last
  // stage), at once: with NCCL both ends of a link must join together.
  Status Connect(const std::string& next_address);

  // Takes a KV slot; the last stage also the sampling (errors: a bad sampling field, named,
  // as kInvalidArgument — top_logprobs outside [0, kMaxTopLogprobs] or without logprobs).
  Status OpenSequence(const control::v1::OpenSequence& open);
  void CloseSequence(uint64_t seq_id);

  // First stage: runs a Step from the coordinator.
  StepOutput RunStep(const control::v1::Step& step);
  // Other stages: waits up to `timeout` for the previous stage's next message and runs it;
  // nullopt for a shutdown message or an upstream error message (that stage reported its own
  // failure). Errors: the link's (nothing arrived, or the previous stage was lost).
  StatusOr<std::optional<StepOutput>> RunReceived(std::chrono::milliseconds timeout);

  transport::HopStats sent_stats() const;
  transport::HopStats received_stats() const;

  // The slice's layers: their homes (options().homes) and the last completed pass's timings
  // (last_pass()); read on the thread that runs the steps.
  const StreamingExecutor& executor() const { return model_->executor(); }
  // Sequences open now (KV slots in use).
  int32_t open_sequences() const;

 private:
  struct Sequence {
    int32_t kv_slot = 0;
    int32_t prompt_tokens = 0;
    std::optional<Sampler> sampler;  // last stage only
    bool greedy = false;             // its sampler takes the argmax
    bool logprobs = false;           // report its tokens' log-probabilities (needs the logits)
    int32_t top_logprobs = 0;        // and this many most likely ids with them
    int32_t remaining = 0;           // speculating: tokens it may still generate
  };
  // Last stage: samples or walks the slices' rows of the logits (or argmax ids) the batch
  // produced, `all_rows` when there is a row per token, and lets the Speculator propose.
  Status SampleLocked(const std::vector<transport::SeqSlice>& slices,
                      std::span<const int16_t> tree, bool all_rows, bool argmax_on_backend,
                      int32_t step_tokens, StepOutput& out);

  Stage(const control::v1::Assignment& assignment, Backend& backend);
  // A speculating sequence's draft state, on the last stage. Caller holds mu_.
  Status OpenDraftLocked(const control::v1::OpenSequence& open);
  // Runs one batch through the slice: `hidden_in` (in the input link's memory) empty on the
  // first stage; sends the result on or samples. Caller holds mu_.
  StatusOr<StepOutput> RunBatchLocked(uint64_t step_id,
                                      const std::vector<transport::SeqSlice>& slices,
                                      std::span<const int16_t> tree,
                                      const std::vector<int32_t>& tokens,
                                      std::span<const float> hidden_in);

  control::v1::Assignment assignment_;
  Backend& backend_;
  std::unique_ptr<PackModel> model_;
  transport::LinkLimits limits_;
  mutable std::mutex mu_;
  std::map<uint64_t, Sequence> sequences_;  // open sequences by coordinator id

  // The links; none on a pipeline of one stage.
  std::unique_ptr<transport::Transport> transport_;
  DeviceBuffer input_buffer_;  // (max_batch_tokens, hidden) the input link's, before it
  std::unique_ptr<transport::ActivationReceiver> input_;  // null on the first stage
  std::string input_address_;                             // empty on the first stage
  SendBuffers output_buffers_;                            // empty on the last stage
  std::unique_ptr<transport::ActivationSender> output_;   // from Connect; null on the last
  std::vector<float> logits_;           // (sequences or tokens in a batch, vocab), last stage
  std::vector<int32_t> greedy_;         // (sequences or tokens in a batch) argmax ids, last stage
  std::unique_ptr<Speculator> speculator_;  // last stage of a speculating cluster
  TokenTree tree_;                      // scratch: a slice's tree as the batch runs it
};

}  // namespace strata::worker
