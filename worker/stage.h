// Stage: one worker's pipeline stage under an Assignment — its slice of the pack's layers as
// a PackModel, the open sequences (KV slot each; on the last stage, the sampler), and the
// data-plane links: a receiver from the previous stage (every stage but the first) and a
// sender to the next (every stage but the last). It turns a Step (first stage) or a received
// activation message into activations sent on, or sampled tokens (last stage).
//
// Buffers, allocated once at Create: the receive buffer (max_batch_tokens, hidden) fp32 and
// two send buffers of the same shape, used alternately so one can be in flight while the
// next step computes.
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
#include "common/engine/sampler.h"
#include "common/proto/strata_control.pb.h"
#include "common/transport/transport.h"

namespace strata::worker {

struct StageOptions {
  std::string pack_dir;
  size_t gpu_mem = 0;
  size_t pinned_mem = 0;
  std::string data_bind_host = "0.0.0.0";  // where the receiver listens
  uint16_t data_port = 0;                   // 0: any free port
  std::string data_host = "127.0.0.1";      // what the previous stage connects to
  std::chrono::milliseconds link_timeout{10000};
};

// What a step produced: the tokens sampled on the last stage (for StepResult), or why the
// step failed here (for StepFailed).
struct StepOutput {
  uint64_t step_id = 0;
  Status status;
  std::vector<std::pair<uint64_t, int32_t>> tokens;  // (sequence id, token id)
};

class Stage {
 public:
  // Loads the slice and, for every stage but the first, starts listening. Errors: the pack's,
  // an assignment that does not fit it (kInvalidArgument), the listener's.
  static StatusOr<std::unique_ptr<Stage>> Create(Backend& backend,
                                                 const control::v1::Assignment& assignment,
                                                 const StageOptions& options);
  ~Stage();

  const control::v1::Assignment& assignment() const { return assignment_; }
  bool first() const { return assignment_.stage() == 0; }
  bool last() const { return assignment_.stage() == assignment_.num_stages() - 1; }
  // "host:port" of the receiver; empty on the first stage.
  const std::string& data_address() const { return data_address_; }

  // Connects the sender to the next stage (no-op on the last stage).
  Status Connect(const std::string& next_address);

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

 private:
  struct Sequence {
    int32_t kv_slot = 0;
    int32_t prompt_tokens = 0;
    std::optional<Sampler> sampler;  // last stage only
  };

  Stage(const control::v1::Assignment& assignment, Backend& backend);
  // Runs one batch through the slice: `hidden_in` empty on the first stage; sends the
  // result on or samples. Caller holds mu_.
  StatusOr<StepOutput> RunBatchLocked(uint64_t step_id, const std::vector<transport::SeqSlice>& slices,
                                const std::vector<int32_t>& tokens,
                                std::span<const float> hidden_in);

  control::v1::Assignment assignment_;
  Backend& backend_;
  std::unique_ptr<PackModel> model_;
  transport::LinkLimits limits_;
  std::mutex mu_;
  std::map<uint64_t, Sequence> sequences_;  // open sequences by coordinator id

  DeviceBuffer receive_buffer_;             // (max_batch_tokens, hidden) fp32
  std::unique_ptr<transport::ActivationReceiver> receiver_;
  std::string data_address_;
  DeviceBuffer send_buffers_[2];            // (max_batch_tokens, hidden) fp32 each
  std::optional<uint64_t> send_tickets_[2];  // the message reading each buffer, if any
  int next_send_buffer_ = 0;
  std::unique_ptr<transport::ActivationSender> sender_;
  std::chrono::milliseconds link_timeout_{10000};
  std::vector<float> logits_;               // (sequences in a batch, vocab), last stage
};

}  // namespace strata::worker
