// The scheduler (see scheduler.h).
#include "coordinator/scheduler.h"

#include <algorithm>
#include <utility>

#include "common/serving/finish_rule.h"
#include "common/util/check.h"

namespace strata::coordinator {

namespace pb = control::v1;

std::string_view StepPolicyName(StepPolicy policy) {
  return policy == StepPolicy::kOneAtATime ? "one_at_a_time" : "one_per_stage";
}

Scheduler::Scheduler(const ServingLimits& limits, std::vector<int32_t> stop_ids,
                     CoordinatorMetrics* metrics, int32_t speculative_tree_tokens)
    : limits_(limits),
      stop_ids_(std::move(stop_ids)),
      speculative_tree_tokens_(speculative_tree_tokens),
      metrics_(metrics) {}

void Scheduler::Start(uint64_t epoch, int32_t num_stages, StageSender* sender,
                      StepPolicy policy) {
  STRATA_CHECK(sender != nullptr && num_stages > 0);
  epoch_ = epoch;
  num_stages_ = num_stages;
  policy_ = policy;
  max_steps_in_flight_ = policy == StepPolicy::kOneAtATime ? 1 : num_stages;
  sender_ = sender;
  held_ = false;
  Schedule();
}

void Scheduler::Hold(bool hold) {
  held_ = hold;
  Schedule();
}

void Scheduler::Suspend() {
  STRATA_CHECK(sequences_.empty() && steps_.empty());
  sender_ = nullptr;
  PublishCounts();
}

size_t Scheduler::RequeueRunning() {
  size_t requeued = 0;
  // sequences_ is ordered by seq id, the order they were opened: put them back last first.
  for (auto it = sequences_.rbegin(); it != sequences_.rend(); ++it) {
    if (it->second.finished) continue;
    queue_.push_front(std::move(it->second.generation));
    ++requeued;
  }
  sequences_.clear();
  steps_.clear();
  sender_ = nullptr;
  PublishCounts();
  return requeued;
}

void Scheduler::Submit(std::shared_ptr<Generation> generation) {
  generation->submitted_at = std::chrono::steady_clock::now();
  queue_.push_back(std::move(generation));
  Schedule();
}

void Scheduler::Abandon(const std::shared_ptr<Generation>& generation, const Status& why) {
  if (generation->done) return;
  const auto queued = std::find(queue_.begin(), queue_.end(), generation);
  if (queued != queue_.end()) {
    queue_.erase(queued);
    generation->error = why;
    generation->done = true;
    generation->changed_cv.notify_all();
    PublishCounts();
    return;
  }
  for (auto& [id, seq] : sequences_) {
    if (seq.generation == generation) {
      const uint64_t seq_id = id;  // Fail may erase the entry
      Fail(seq_id, seq, why);
      break;
    }
  }
  Schedule();
}

void Scheduler::FailAll(const Status& why) {
  for (auto& generation : queue_) {
    generation->error = why;
    generation->done = true;
    generation->changed_cv.notify_all();
  }
  queue_.clear();
  FailRunning(why);
}

std::optional<uint64_t> Scheduler::OverdueStep(std::chrono::steady_clock::time_point now,
                                               std::chrono::milliseconds prefill,
                                               std::chrono::milliseconds decode) const {
  std::optional<uint64_t> oldest;
  std::chrono::steady_clock::time_point oldest_sent;
  for (const auto& [id, step] : steps_) {
    if (now - step.sent_at <= (step.prefill ? prefill : decode)) continue;
    if (!oldest || step.sent_at < oldest_sent) {
      oldest = id;
      oldest_sent = step.sent_at;
    }
  }
  return oldest;
}

void Scheduler::FailRunning(const Status& why) {
  for (auto& [id, seq] : sequences_) {
    if (seq.finished) continue;
    seq.generation->error = why;
    seq.generation->done = true;
    seq.generation->changed_cv.notify_all();
  }
  sequences_.clear();
  steps_.clear();
  sender_ = nullptr;
  PublishCounts();
}

void Scheduler::OnOpened(const pb::SequenceOpened& opened, const std::string& worker) {
  const auto it = sequences_.find(opened.seq_id());
  if (it == sequences_.end() || it->second.opens_pending == 0) return;  // not ours: dropped
  Sequence& seq = it->second;
  --seq.opens_pending;
  if (!opened.error().empty() && !seq.finished) {
    Fail(opened.seq_id(), seq, Unavailable(worker + " could not open the sequence: " +
                                           opened.error()));
  } else {
    CloseIfQuiet(opened.seq_id());
  }
  Schedule();
}

void Scheduler::OnResult(const pb::StepResult& result) {
  const auto step_it = steps_.find(result.step_id());
  if (step_it == steps_.end()) return;  // failed or from before a reset: dropped
  const InFlightStep step = std::move(step_it->second);
  steps_.erase(step_it);
  if (metrics_ != nullptr) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - step.sent_at).count();
    metrics_->pass_seconds(step.prefill ? Phase::kPrefill : Phase::kDecode).Observe(seconds);
    if (std::any_of(step.tree_nodes.begin(), step.tree_nodes.end(), [](int32_t n) { return n > 0; })) {
      metrics_->speculative_verify_seconds().Observe(seconds);
    }
    if (result.draft_ms() > 0) metrics_->speculative_draft_seconds().Observe(result.draft_ms() / 1e3);
  }
  for (size_t i = 0; i < step.sampled_seq_ids.size(); ++i) {
    const uint64_t seq_id = step.sampled_seq_ids[i];
    const auto it = sequences_.find(seq_id);
    STRATA_CHECK(it != sequences_.end());  // a sequence stays while a step carries it
    Sequence& seq = it->second;
    seq.awaiting_token = false;
    if (seq.finished) continue;
    const auto outcome =
        std::find_if(result.speculative().begin(), result.speculative().end(),
                     [&](const pb::SpeculativeOutcome& o) { return o.seq_id() == seq_id; });
    TakeTokens(seq_id, seq, result, step.tree_nodes[i],
               outcome == result.speculative().end() ? nullptr : &*outcome);
  }
  for (uint64_t seq_id : step.seq_ids) {
    const auto it = sequences_.find(seq_id);
    STRATA_CHECK(it != sequences_.end());
    --it->second.steps_in_flight;
    CloseIfQuiet(seq_id);
  }
  Schedule();
}

void Scheduler::TakeTokens(uint64_t seq_id, Sequence& seq, const pb::StepResult& result,
                           int32_t tree_nodes, const pb::SpeculativeOutcome* outcome) {
  const std::string where = "the last stage answered step " + std::to_string(result.step_id());
  std::vector<const pb::SampledToken*> tokens;
  for (const pb::SampledToken& t : result.tokens()) {
    if (t.seq_id() == seq_id) tokens.push_back(&t);
  }
  if (tokens.empty()) {
    Fail(seq_id, seq, Internal(where + " without a token for sequence " + std::to_string(seq_id)));
    return;
  }
  if (static_cast<int32_t>(tokens.size()) > tree_nodes + 1) {
    Fail(seq_id, seq, Internal(where + " with " + std::to_string(tokens.size()) +
                                   " tokens for sequence " + std::to_string(seq_id) +
                                   ", which verified " + std::to_string(tree_nodes) + " nodes"));
    return;
  }
  // A speculating sequence's outcome: as many accepted nodes as tokens beyond the first,
  // ascending inside the verified tree; a next tree within the size, parents before children
  // (the Cluster checked every token id against the vocabulary).
  std::vector<int32_t> kept, next_tokens, next_parents;
  if (speculative_tree_tokens_ > 0 && (outcome != nullptr || tokens.size() > 1)) {
    bool ok = outcome != nullptr &&
              outcome->accepted_nodes_size() == static_cast<int>(tokens.size()) - 1 &&
              outcome->next_tokens_size() == outcome->next_parents_size() &&
              outcome->next_tokens_size() <= speculative_tree_tokens_;
    for (int i = 0; ok && i < outcome->accepted_nodes_size(); ++i) {
      const int32_t node = outcome->accepted_nodes(i);
      ok = node >= (i == 0 ? 0 : outcome->accepted_nodes(i - 1) + 1) && node < tree_nodes;
    }
    for (int i = 0; ok && i < outcome->next_tokens_size(); ++i) {
      ok = outcome->next_parents(i) >= -1 && outcome->next_parents(i) < i;
    }
    if (!ok) {
      Fail(seq_id, seq, Internal(where + " with a malformed speculative outcome for sequence " +
                                     std::to_string(seq_id)));
      return;
    }
    kept.assign(outcome->accepted_nodes().begin(), outcome->accepted_nodes().end());
    next_tokens.assign(outcome->next_tokens().begin(), outcome->next_tokens().end());
    next_parents.assign(outcome->next_parents().begin(), outcome->next_parents().end());
  }
  if (metrics_ != nullptr && tree_nodes > 0) {
    metrics_->speculative_tokens_per_pass().Observe(static_cast<double>(tokens.size()));
    metrics_->speculative_tree_nodes().Observe(tree_nodes);
  }
  Generation& g = *seq.generation;
  for (const pb::SampledToken* token : tokens) {
    g.output.push_back(token->token_id());
    if (g.logprobs) {
      SampledLogprobs& lp = g.output_logprobs.emplace_back();
      lp.logprob = token->logprob();
      for (const pb::TokenLogprob& alt : token->top_logprobs()) {
        lp.top.emplace_back(alt.token_id(), alt.logprob());
      }
    }
    if (const std::optional<FinishReason> finish =
            FinishAfter(token->token_id(), static_cast<int32_t>(g.output.size()), g.max_tokens,
                        stop_ids_)) {
      g.changed_cv.notify_all();
      Finish(seq_id, seq, std::string(FinishReasonName(*finish)));
      return;
    }
  }
  g.changed_cv.notify_all();
  seq.kept = std::move(kept);
  seq.next_tokens = std::move(next_tokens);
  seq.next_parents = std::move(next_parents);
}

void Scheduler::OnFailed(const pb::StepFailed& failed, const std::string& worker) {
  const auto step_it = steps_.find(failed.step_id());
  if (step_it == steps_.end()) return;
  const InFlightStep step = std::move(step_it->second);
  steps_.erase(step_it);
  const Status why = Internal(worker + " failed step " + std::to_string(failed.step_id()) +
                              ": " + failed.error());
  for (uint64_t seq_id : step.seq_ids) {
    const auto it = sequences_.find(seq_id);
    STRATA_CHECK(it != sequences_.end());
    --it->second.steps_in_flight;
    it->second.awaiting_token = false;
    if (!it->second.finished) {
      Fail(seq_id, it->second, why);  // closes it when quiet
    } else {
      CloseIfQuiet(seq_id);
    }
  }
  Schedule();
}

void Scheduler::Schedule() {
  if (sender_ != nullptr) {
    OpenQueued();
    while (static_cast<int32_t>(steps_.size()) < max_steps_in_flight_ && SendOneStep()) {
    }
  }
  PublishCounts();
}

void Scheduler::PublishCounts() {
  if (metrics_ == nullptr) return;
  metrics_->requests_running().Set(static_cast<double>(sequences_.size()));
  metrics_->requests_waiting().Set(static_cast<double>(queue_.size()));
}

void Scheduler::OpenQueued() {
  while (!held_ && static_cast<int32_t>(sequences_.size()) < limits_.kv_slots && !queue_.empty()) {
    std::shared_ptr<Generation> generation = std::move(queue_.front());
    queue_.pop_front();
    if (metrics_ != nullptr) {
      metrics_->queue_time().Observe(std::chrono::duration<double>(
                                         std::chrono::steady_clock::now() - generation->submitted_at)
                                         .count());
    }
    const uint64_t seq_id = next_seq_id_++;
    Sequence& seq = sequences_[seq_id];
    seq.context = generation->prompt;  // and, when resumed, what it generated so far
    seq.context.insert(seq.context.end(), generation->output.begin(), generation->output.end());
    pb::CoordinatorMessage message;
    pb::OpenSequence& open = *message.mutable_open();
    open.set_epoch(epoch_);
    open.set_seq_id(seq_id);
    open.set_prompt_tokens(static_cast<int32_t>(seq.context.size()));
    pb::Sampling& sampling = *open.mutable_sampling();
    sampling.set_temperature(generation->sampling.temperature);
    sampling.set_top_k(generation->sampling.top_k);
    sampling.set_top_p(generation->sampling.top_p);
    sampling.set_seed(generation->sampling.seed);
    sampling.set_logprobs(generation->logprobs);
    sampling.set_top_logprobs(generation->top_logprobs);
    seq.generation = std::move(generation);
    seq.opens_pending = num_stages_;
    for (int32_t stage = 0; stage + 1 < num_stages_; ++stage) Send(stage, message);
    if (speculative_tree_tokens_ > 0) {  // the last stage's draft runs the context
      open.mutable_draft_context()->Assign(seq.context.begin(), seq.context.end());
      open.set_max_new_tokens(seq.generation->max_tokens -
                              static_cast<int32_t>(seq.generation->output.size()));
    }
    Send(num_stages_ - 1, message);
  }
}

// Builds one step from what is ready (decode tokens, then prefill chunks) and sends it to
// stage 0; false when nothing is ready.
bool Scheduler::SendOneStep() {
  pb::CoordinatorMessage message;
  pb::Step& step = *message.mutable_step();
  InFlightStep in_flight;
  int32_t budget = limits_.max_batch_tokens;
  bool has_tree = false;
  // A prefill chunk cannot ride beside a tree: while prompts wait, steps with trees take
  // turns with steps without, so a speculating sequence never starves a new one's prefill.
  const bool prefill_waiting = std::any_of(sequences_.begin(), sequences_.end(), [](const auto& e) {
    const Sequence& q = e.second;
    return !q.finished && q.opens_pending == 0 &&
           q.prompt_sent < static_cast<int32_t>(q.context.size());
  });
  const bool trees_allowed = !(prefill_waiting && last_step_had_tree_);
  for (auto& [seq_id, seq] : sequences_) {
    if (budget == 0) break;
    const Generation& g = *seq.generation;
    const bool prompt_done = seq.prompt_sent == static_cast<int32_t>(seq.context.size());
    if (seq.finished || seq.opens_pending > 0 || !prompt_done || seq.awaiting_token) continue;
    // Its last token, then the tree proposed below it; the kept nodes count against the
    // batch too (every stage copies their rows, and the data plane carries them).
    const auto nodes = static_cast<int32_t>(seq.next_tokens.size());
    if (nodes > 0 && !trees_allowed) continue;  // the next step takes it, proposal and all
    const int32_t cost = 1 + nodes + static_cast<int32_t>(seq.kept.size());
    if (cost > budget) continue;  // the next step takes it
    pb::SeqWork& work = *step.add_seqs();
    work.set_seq_id(seq_id);
    work.set_start_pos(static_cast<int32_t>(g.prompt.size() + g.output.size()) - 1);
    work.add_tokens(g.output.back());
    if (nodes > 0) {
      work.add_tree_parents(-1);
      for (int32_t n = 0; n < nodes; ++n) {
        work.add_tokens(seq.next_tokens[static_cast<size_t>(n)]);
        work.add_tree_parents(seq.next_parents[static_cast<size_t>(n)] + 1);
      }
      has_tree = true;
    }
    for (const int32_t node : seq.kept) work.add_kept_nodes(node);
    seq.kept.clear();
    seq.next_tokens.clear();
    seq.next_parents.clear();
    budget -= cost;
    seq.awaiting_token = true;
    ++seq.steps_in_flight;
    in_flight.seq_ids.push_back(seq_id);
    in_flight.sampled_seq_ids.push_back(seq_id);
    in_flight.tree_nodes.push_back(nodes);
  }
  for (auto& [seq_id, seq] : sequences_) {
    if (budget == 0 || has_tree) break;
    const auto prompt_len = static_cast<int32_t>(seq.context.size());
    if (seq.finished || seq.opens_pending > 0 || seq.prompt_sent == prompt_len) continue;
    const int32_t chunk = std::min(budget, prompt_len - seq.prompt_sent);
    pb::SeqWork& work = *step.add_seqs();
    work.set_seq_id(seq_id);
    work.set_start_pos(seq.prompt_sent);
    for (int32_t i = 0; i < chunk; ++i) {
      work.add_tokens(seq.context[static_cast<size_t>(seq.prompt_sent + i)]);
    }
    seq.prompt_sent += chunk;
    budget -= chunk;
    ++seq.steps_in_flight;
    in_flight.seq_ids.push_back(seq_id);
    in_flight.prefill = true;
    if (seq.prompt_sent == prompt_len) {
      seq.awaiting_token = true;
      in_flight.sampled_seq_ids.push_back(seq_id);
      in_flight.tree_nodes.push_back(0);
    }
  }
  if (step.seqs_size() == 0) return false;
  last_step_had_tree_ = has_tree;
  const uint64_t step_id = next_step_id_++;
  ++pipeline_passes_;
  in_flight.sent_at = std::chrono::steady_clock::now();
  step.set_epoch(epoch_);
  step.set_step_id(step_id);
  steps_.emplace(step_id, std::move(in_flight));
  Send(0, message);
  return true;
}

void Scheduler::Finish(uint64_t seq_id, Sequence& seq, const std::string& reason) {
  seq.finished = true;
  seq.generation->finish_reason = reason;
  seq.generation->done = true;
  seq.generation->changed_cv.notify_all();
  CloseIfQuiet(seq_id);
}

void Scheduler::Fail(uint64_t seq_id, Sequence& seq, const Status& why) {
  seq.finished = true;
  seq.generation->error = why;
  seq.generation->done = true;
  seq.generation->changed_cv.notify_all();
  CloseIfQuiet(seq_id);
}

// Closes a finished sequence on every stage once no open or step of it is outstanding, and
// frees its KV slot.
void Scheduler::CloseIfQuiet(uint64_t seq_id) {
  const auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) return;
  const Sequence& seq = it->second;
  if (!seq.finished || seq.opens_pending > 0 || seq.steps_in_flight > 0) return;
  pb::CoordinatorMessage message;
  message.mutable_close()->set_epoch(epoch_);
  message.mutable_close()->set_seq_id(seq_id);
  for (int32_t stage = 0; stage < num_stages_; ++stage) Send(stage, message);
  sequences_.erase(it);
}

void Scheduler::Send(int32_t stage, const pb::CoordinatorMessage& message) {
  sender_->SendToStage(stage, message);
}

}  // namespace strata::coordinator
