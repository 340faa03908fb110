// The scheduler: turns queued generations into sequences on the pipeline and steps for its
// first stage. A generation waits for a KV slot (at most kv_slots sequences open), opens a
// sequence on every stage, then feeds its prompt in chunks and one token per decode; each
// step packs decode tokens first (a sequence at most once per step), then prefill chunks, up
// to max_batch_tokens tokens. With StepPolicy::kOnePerStage up to num_stages steps are in
// flight so every stage is busy (micro-batches); with kOneAtATime one is, so every ready
// sequence rides each pass — for pipelines that stream layers, where each pass reads the
// streamed weights again. Prefill chunks of one sequence may ride consecutive in-flight steps (every stage
// runs steps in order); its decode waits for the previous token. A sequence is closed on
// every stage once it is finished and none of its steps or opens are outstanding. While held
// (a worker is leaving) no sequence is opened: queued generations wait, open ones run on.
// Thread-safety: none; the Cluster calls every method under its lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/strata_control.pb.h"
#include "common/serving/serving_limits.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/generation.h"

namespace strata::coordinator {

// Where the scheduler's messages go: stage `stage` of the current epoch's pipeline.
class StageSender {
 public:
  virtual ~StageSender() = default;
  virtual void SendToStage(int32_t stage, const control::v1::CoordinatorMessage& message) = 0;
};

// Steps in flight at once (see the header comment).
enum class StepPolicy { kOnePerStage, kOneAtATime };
std::string_view StepPolicyName(StepPolicy policy);  // "one_per_stage", "one_at_a_time"

class Scheduler {
 public:
  // `metrics` (may be null) gets queue times, pass times and the running/waiting gauges.
  // Steps of at most limits.max_batch_tokens tokens over at most limits.kv_slots sequences;
  // a sampled id among `stop_ids` ends a generation (FinishAfter).
  // With `speculative_tree_tokens` > 0 every sequence speculates: the last stage gets its
  // context for its draft, and each decode step after the first verifies the tree (of at
  // most that many nodes) the last stage proposed, keeping the nodes it accepted; a step that
  // carries a tree carries no prefill chunk (the last stage then computes a row of logits
  // per token), and while prompts wait, steps with trees alternate with steps without.
  Scheduler(const ServingLimits& limits, std::vector<int32_t> stop_ids,
            CoordinatorMetrics* metrics = nullptr, int32_t speculative_tree_tokens = 0);

  // Serving begins on a pipeline of `num_stages` stages under `epoch`, not held, with `policy`;
  // `sender` must outlive the serving period (until FailAll or Suspend).
  void Start(uint64_t epoch, int32_t num_stages, StageSender* sender, StepPolicy policy);
  bool serving() const { return sender_ != nullptr; }
  StepPolicy step_policy() const { return policy_; }  // the last Start's

  // Queues `generation` (validated by the caller) and schedules what can run.
  void Submit(std::shared_ptr<Generation> generation);
  // Ends one generation with `why` (a timeout, a client gone, a stop string found by the
  // caller): dequeued, or its sequence closed on every stage once none of its steps is
  // outstanding (at the latest one step later), freeing its KV slot. No-op once done.
  void Abandon(const std::shared_ptr<Generation>& generation, const Status& why);
  // Fails every queued and running generation with `why` and stops serving; sends nothing
  // (the workers are reset by the Cluster).
  void FailAll(const Status& why);
  // Fails the running generations with `why` and stops serving, keeping the queue for the
  // next Start (the Cluster resets the pipeline under a new epoch).
  void FailRunning(const Status& why);
  // The oldest step in flight longer than its deadline (`prefill` for a step holding a prompt
  // chunk, else `decode`), if any.
  std::optional<uint64_t> OverdueStep(std::chrono::steady_clock::time_point now,
                                      std::chrono::milliseconds prefill,
                                      std::chrono::milliseconds decode) const;
  // Held: opens no sequence (queued generations wait; open ones run to their end). Released:
  // opens what the slots allow.
  void Hold(bool hold);
  // Stops serving with no sequence open (the pipeline is gone after a graceful leave),
  // keeping the queue for the next Start.
  void Suspend();
  // Stops serving with the running generations put back at the head of the queue, in the
  // order they were opened (the pipeline was lost): on the next Start each is opened again and
  // prefilled over its prompt and the ids it has generated so far, then decodes on, so a
  // greedy generation ends with exactly the ids it would have had without the loss. Returns
  // how many were put back.
  size_t RequeueRunning();

  // Worker messages of the current epoch; `worker` names the sender in errors.
  void OnOpened(const control::v1::SequenceOpened& opened, const std::string& worker);
  void OnResult(const control::v1::StepResult& result);
  void OnFailed(const control::v1::StepFailed& failed, const std::string& worker);

  size_t queued() const { return queue_.size(); }
  size_t open_sequences() const { return sequences_.size(); }
  size_t steps_in_flight() const { return steps_.size(); }
  // Steps sent since the coordinator started: each is one pass over every stage's layers.
  uint64_t pipeline_passes() const { return pipeline_passes_; }

 private:
  struct Sequence {
    std::shared_ptr<Generation> generation;
    // What the sequence is prefilled with: the prompt, and after a requeue the ids generated
    // before it (decoding continues from the last of them).
    std::vector<int32_t> context;
    int32_t opens_pending = 0;    // SequenceOpened still to come
    int32_t prompt_sent = 0;      // prompt tokens already in steps
    int32_t steps_in_flight = 0;  // steps carrying this sequence not answered yet
    bool awaiting_token = false;  // a step in flight ends with this sequence's next token
    bool finished = false;        // done (or failed); closed once nothing is outstanding
    // Speculating: the tree the last stage proposed for the next step (nodes' tokens and
    // parents, -1 the root) and the nodes of the last verified tree every stage must keep.
    std::vector<int32_t> next_tokens, next_parents, kept;
  };
  struct InFlightStep {
    std::vector<uint64_t> seq_ids;      // every sequence in the step
    std::vector<uint64_t> sampled_seq_ids;  // those whose next token this step samples
    std::vector<int32_t> tree_nodes;    // (sampled_seq_ids) nodes of the tree each verifies
    std::chrono::steady_clock::time_point sent_at;
    bool prefill = false;  // holds a prefill chunk
  };

  void Schedule();
  void OpenQueued();
  bool SendOneStep();
  // A sampled sequence's part of a StepResult: its tokens in order (verifying `tree_nodes`
  // nodes) and its SpeculativeOutcome (null when none), checked, then taken.
  void TakeTokens(uint64_t seq_id, Sequence& seq, const control::v1::StepResult& result,
                  int32_t tree_nodes, const control::v1::SpeculativeOutcome* outcome);
  void Finish(uint64_t seq_id, Sequence& seq, const std::string& reason);
  void Fail(uint64_t seq_id, Sequence& seq, const Status& why);
  void CloseIfQuiet(uint64_t seq_id);
  void Send(int32_t stage, const control::v1::CoordinatorMessage& message);
  void PublishCounts();  // the running and waiting gauges

  const ServingLimits limits_;
  const std::vector<int32_t> stop_ids_;
  const int32_t speculative_tree_tokens_;  // 0: no speculation
  CoordinatorMetrics* const metrics_;
  uint64_t epoch_ = 0;
  int32_t num_stages_ = 0;
  StepPolicy policy_ = StepPolicy::kOnePerStage;
  int32_t max_steps_in_flight_ = 0;  // from policy_
  StageSender* sender_ = nullptr;  // null: not serving
  bool held_ = false;              // open no sequence (Hold)
  uint64_t next_seq_id_ = 1;       // unique over the coordinator's life, across epochs
  uint64_t next_step_id_ = 1;
  uint64_t pipeline_passes_ = 0;
  bool last_step_had_tree_ = false;  // trees and prefill chunks take turns (SendOneStep)
  std::deque<std::shared_ptr<Generation>> queue_;  // waiting for a KV slot, oldest first
  std::map<uint64_t, Sequence> sequences_;         // holding a KV slot, by id (oldest first)
  std::map<uint64_t, InFlightStep> steps_;         // sent to stage 0, not answered
};

}  // namespace strata::coordinator
