// Stage (see stage.h).
#include "worker/stage.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <string>

#include "common/cluster/assignment_placement.h"
#include "common/cluster/protocol.h"
#include "common/engine/pack_placement.h"
#include "worker/control_checks.h"

namespace strata::worker {

using control::v1::Assignment;

Stage::Stage(const Assignment& assignment, Backend& backend)
    : assignment_(assignment), backend_(backend) {}

Stage::~Stage() = default;

StatusOr<std::unique_ptr<Stage>> Stage::Create(Backend& backend, const Assignment& a,
                                               const StageOptions& options) {
  std::unique_ptr<Stage> s(new Stage(a, backend));
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(options.pack_dir));
  STRATA_RETURN_IF_ERROR(CheckAssignment(a, pack.config().num_layers));
  size_t layer_bytes = 0;
  for (int32_t l = a.first_layer(); l < a.first_layer() + a.num_layers(); ++l) {
    layer_bytes = std::max<size_t>(layer_bytes, pack.layer_extent(l).bytes);
  }
  STRATA_ASSIGN_OR_RETURN(const Placement placement, cluster::ReadPlacement(a, layer_bytes));
  ServingLimits engine;
  engine.max_batch_tokens = a.max_batch_tokens();
  engine.max_seq_len = a.max_seq_len();
  engine.kv_slots = a.kv_slots();
  STRATA_ASSIGN_OR_RETURN(
      s->model_, PackModel::Open(backend, options.pack_dir,
                                 ExecutionOptions(placement, a.first_layer(), engine, {}, options.verify_streamed)));

  const ModelConfig& config = s->model_->model().config();
  if (s->last() && !a.draft_model().empty()) {
    STRATA_ASSIGN_OR_RETURN(s->speculator_, Speculator::Create(backend, a, config.vocab_size));
  }
  s->limits_ = {a.max_batch_tokens(), static_cast<int32_t>(config.hidden_size),
                transport::ActivationDtype::kF32, std::min(a.kv_slots(), a.max_batch_tokens())};
  STRATA_RETURN_IF_ERROR(transport::ValidateLimits(s->limits_));
  if (s->first() && s->last()) return s;
  transport::LinkSettings link = options.link;
  link.transport = a.transport();
  STRATA_ASSIGN_OR_RETURN(s->transport_, transport::CreateTransport(backend, link));
  const ActivationMemory memory = s->transport_->memory();
  const size_t bytes = s->limits_.max_payload_bytes();
  if (!s->first()) {
    STRATA_ASSIGN_OR_RETURN(s->input_buffer_,
                            transport::AllocateLinkBuffer(backend, memory, bytes));
    STRATA_ASSIGN_OR_RETURN(
        transport::Listening listening,
        s->transport_->Listen(s->limits_, std::span(s->input_buffer_.get(), bytes)));
    s->input_ = std::move(listening.receiver);
    s->input_address_ = std::move(listening.address);
  }
  if (!s->last()) {
    STRATA_ASSIGN_OR_RETURN(s->output_buffers_, SendBuffers::Allocate(backend, memory, bytes));
  }
  return s;
}

const std::string& Stage::data_address() const { return input_address_; }

Status Stage::Connect(const std::string& next_address) {
  if (last() && !next_address.empty()) {
    return InvalidArgument("the last stage was given a next stage to connect to (" +
                           next_address.substr(0, 64) + ")");
  }
  if (!last() && next_address.empty()) {
    return InvalidArgument("stage " + std::to_string(assignment_.stage()) +
                           " was given no address for the next stage");
  }
  // Both ends at once: a middle stage's NCCL links each wait for their other ends.
  std::future<Status> opened_output;
  if (!last()) {
    opened_output = std::async(std::launch::async, [&] {
      StatusOr<std::unique_ptr<transport::ActivationSender>> sender =
          transport_->Connect(next_address, limits_);
      if (!sender.ok()) return sender.status().WithContext("connecting to the next stage");
      output_ = std::move(sender).value();
      return OkStatus();
    });
  }
  Status input = input_ != nullptr
                     ? input_->Open().WithContext("joining the link from the previous stage")
                     : OkStatus();
  Status output = opened_output.valid() ? opened_output.get() : OkStatus();
  STRATA_RETURN_IF_ERROR(input);
  return output;
}

Status Stage::OpenSequence(const control::v1::OpenSequence& open) {
  STRATA_RETURN_IF_ERROR(CheckOpenSequence(open, assignment_));
  std::lock_guard<std::mutex> lock(mu_);
  if (sequences_.count(open.seq_id()) != 0) {
    return InvalidArgument("sequence " + std::to_string(open.seq_id()) + " is already open");
  }
  std::optional<int32_t> slot = model_->model().kv_cache().Acquire();
  if (!slot) {
    return ResourceExhausted("no free KV slot for sequence " + std::to_string(open.seq_id()) +
                             ": all " + std::to_string(assignment_.kv_slots()) + " are open");
  }
  Sequence seq;
  seq.kv_slot = *slot;
  seq.prompt_tokens = open.prompt_tokens();
  if (last()) {
    SamplingParams p;
    p.temperature = open.sampling().temperature();
    p.top_k = open.sampling().top_k();
    p.top_p = open.sampling().top_p();
    p.seed = open.sampling().seed();
    const int32_t top_logprobs = open.sampling().top_logprobs();
    Status st = ValidateSamplingParams(p);
    if (st.ok() && (top_logprobs < 0 || top_logprobs > cluster::kMaxTopLogprobs)) {
      st = InvalidArgument("top_logprobs must be in [0, " +
                           std::to_string(cluster::kMaxTopLogprobs) + "], got " +
                           std::to_string(top_logprobs));
    }
    if (st.ok() && top_logprobs > 0 && !open.sampling().logprobs()) {
      st = InvalidArgument("top_logprobs (" + std::to_string(top_logprobs) +
                           ") is only valid with logprobs");
    }
    if (!st.ok()) {
      model_->model().kv_cache().Release(*slot);
      return st;
    }
    if (st.ok() && open.draft_context_size() > 0) st = OpenDraftLocked(open);
    if (!st.ok()) {
      model_->model().kv_cache().Release(*slot);
      return st;
    }
    seq.sampler.emplace(p);
    seq.greedy = p.temperature == 0.0f || p.top_k == 1;
    seq.logprobs = open.sampling().logprobs();
    seq.top_logprobs = top_logprobs;
    seq.remaining = open.max_new_tokens();
  }
  sequences_.emplace(open.seq_id(), std::move(seq));
  return OkStatus();
}

Status Stage::OpenDraftLocked(const control::v1::OpenSequence& open) {
  if (speculator_ == nullptr) {
    return InvalidArgument("sequence " + std::to_string(open.seq_id()) +
                           " asks to speculate but this stage has no draft model");
  }
  if (open.draft_context_size() != open.prompt_tokens() || open.max_new_tokens() < 0) {
    return InvalidArgument("sequence " + std::to_string(open.seq_id()) + ": a draft context of " +
                           std::to_string(open.draft_context_size()) + " ids for a prompt of " +
                           std::to_string(open.prompt_tokens()) + ", max_new_tokens " +
                           std::to_string(open.max_new_tokens()));
  }
  const int64_t vocab = model_->model().config().vocab_size;
  for (const int32_t id : open.draft_context()) {
    if (id < 0 || id >= vocab) {
      return InvalidArgument("sequence " + std::to_string(open.seq_id()) +
                             ": draft context id " + std::to_string(id) +
                             " is outside the vocabulary");
    }
  }
  return speculator_->Open(open.seq_id(), std::span<const int32_t>(open.draft_context().data(),
                                                                 static_cast<size_t>(open.draft_context_size())));
}

void Stage::CloseSequence(uint64_t seq_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sequences_.find(seq_id);
  if (it == sequences_.end()) return;
  model_->model().kv_cache().Release(it->second.kv_slot);
  if (speculator_ != nullptr) speculator_->Close(seq_id);
  sequences_.erase(it);
}

StepOutput Stage::RunStep(const control::v1::Step& step) {
  StepOutput failed;
  failed.step_id = step.step_id();
  failed.status = CheckStep(step, assignment_, model_->model().config().vocab_size);
  if (!failed.status.ok()) return failed;
  std::vector<transport::SeqSlice> slices;
  std::vector<int16_t> tree;
  std::vector<int32_t> tokens;
  for (const control::v1::SeqWork& w : step.seqs()) {
    slices.push_back({w.seq_id(), w.start_pos(), w.tokens_size(), w.tree_parents_size(),
                      w.kept_nodes_size()});
    tree.insert(tree.end(), w.tree_parents().begin(), w.tree_parents().end());
    tree.insert(tree.end(), w.kept_nodes().begin(), w.kept_nodes().end());
    tokens.insert(tokens.end(), w.tokens().begin(), w.tokens().end());
  }
  failed.status = transport::ValidateSliceTrees(slices, tree, limits_)
                      .WithContext("step " + std::to_string(step.step_id()));
  if (!failed.status.ok()) return failed;
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<StepOutput> out = RunBatchLocked(step.step_id(), slices, tree, tokens, {});
  if (out.ok()) return std::move(out).value();
  failed.status = out.status();
  return failed;
}

StatusOr<std::optional<StepOutput>> Stage::RunReceived(std::chrono::milliseconds timeout) {
  StatusOr<const transport::ReceivedMessage*> got = input_->Receive(timeout);
  if (!got.ok()) return got.status();
  const transport::ReceivedMessage& m = **got;
  switch (m.header.kind) {
    case transport::MessageKind::kShutdown:
    case transport::MessageKind::kError:
      return std::optional<StepOutput>();
    case transport::MessageKind::kActivations:
      break;
  }
  if (Status st = CheckSlices(m.header.seqs, assignment_); !st.ok()) {
    StepOutput failed;
    failed.step_id = m.header.step_id;
    failed.status = st.WithContext("step " + std::to_string(m.header.step_id) + " from stage " +
                                   std::to_string(assignment_.stage() - 1));
    return std::optional<StepOutput>(std::move(failed));
  }
  const std::span<const float> hidden(reinterpret_cast<const float*>(m.payload.data()),
                                      m.payload.size() / sizeof(float));
  const std::vector<int32_t> tokens(static_cast<size_t>(m.header.rows), 0);  // not embedded here
  std::lock_guard<std::mutex> lock(mu_);
  StatusOr<StepOutput> out =
      RunBatchLocked(m.header.step_id, m.header.seqs, m.header.tree, tokens, hidden);
  if (out.ok()) return std::optional<StepOutput>(std::move(out).value());
  StepOutput failed;
  failed.step_id = m.header.step_id;
  failed.status = out.status();
  return std::optional<StepOutput>(std::move(failed));
}

StatusOr<StepOutput> Stage::RunBatchLocked(uint64_t step_id,
                                           const std::vector<transport::SeqSlice>& slices,
                                           std::span<const int16_t> tree,
                                           const std::vector<int32_t>& tokens,
                                           std::span<const float> hidden_in) {
  const std::string where = "step " + std::to_string(step_id) + " on stage " +
                            std::to_string(assignment_.stage());
  LlamaModel& model = model_->model();
  KvCache& kv = model.kv_cache();
  BatchLayout batch;
  bool any_tree = false;
  std::vector<int32_t> kept_rows;
  size_t value = 0;  // the next slice's first tree value
  for (size_t i = 0, offset = 0; i < slices.size(); offset += static_cast<size_t>(slices[i].n_tokens), ++i) {
    const transport::SeqSlice& slice = slices[i];
    auto it = sequences_.find(slice.seq_id);
    if (it == sequences_.end()) {
      return InvalidArgument(where + ": sequence " + std::to_string(slice.seq_id) +
                             " is not open here");
    }
    const int32_t slot = it->second.kv_slot;
    const std::span<const int16_t> parents = tree.subspan(value, static_cast<size_t>(slice.tree_tokens));
    const std::span<const int16_t> kept =
        tree.subspan(value + static_cast<size_t>(slice.tree_tokens), static_cast<size_t>(slice.kept));
    value += static_cast<size_t>(slice.tree_tokens + slice.kept);
    // The previous tree's rows give way to its accepted nodes' (or to none).
    if (kv.length(slot) != slice.start_pos || slice.kept > 0) {
      const int32_t base = slice.start_pos - slice.kept;
      kept_rows.clear();
      for (const int16_t node : kept) kept_rows.push_back(base + node);
      STRATA_RETURN_IF_ERROR(kv.KeepRows(backend_, slot, base, kept_rows)
                                 .WithContext(where + ", sequence " +
                                              std::to_string(slice.seq_id)));
    }
    if (slice.tree_tokens == 0) {
      batch.Add(slot, slice.start_pos, tokens.data() + offset, slice.n_tokens);
      continue;
    }
    any_tree = true;
    tree_.Clear();
    for (int32_t t = 1; t < slice.n_tokens; ++t) {
      tree_.Add(parents[static_cast<size_t>(t)] - 1, tokens[offset + static_cast<size_t>(t)]);
    }
    tree_.AppendSpan(batch, slot, slice.start_pos, std::span(tokens).subspan(offset, 1), 0,
                     tree_.size(), 0);
  }
  StepOutput out;
  out.step_id = step_id;
  for (const transport::SeqSlice& slice : slices) {
    out.prefill |= slice.start_pos < sequences_.at(slice.seq_id).prompt_tokens;
    out.step_tokens += slice.n_tokens;
  }
  const ActivationMemory memory =
      transport_ != nullptr ? transport_->memory() : ActivationMemory::kHost;
  if (!last()) {
    STRATA_ASSIGN_OR_RETURN(float* hidden_out, output_buffers_.Next(*output_));
    const Status run = model.ForwardStage(batch, hidden_in, hidden_out, LogitsMode::kLastToken,
                                          nullptr, memory);
    if (input_ != nullptr) input_->Consumed();
    STRATA_RETURN_IF_ERROR(run.WithContext(where));
    const transport::MessageHeader header = transport::ActivationsHeader(
        limits_, step_id, slices, std::vector<int16_t>(tree.begin(), tree.end()));
    StatusOr<uint64_t> ticket = output_->Send(header, hidden_out);
    if (!ticket.ok()) return ticket.status().WithContext(where);
    output_buffers_.Sent(*ticket);
    return out;
  }
  // A step whose sampling sequences are all greedy and want no log-probabilities takes the
  // argmax on the backend and copies no logits (a row x vocabulary of floats) to the host. A
  // step with a tree gets a row per token (its decode and tree slices need them all; the
  // scheduler does not put prefill chunks beside trees).
  bool argmax_on_backend = true;
  for (const transport::SeqSlice& slice : slices) {
    const Sequence& seq = sequences_.at(slice.seq_id);
    if (slice.start_pos + slice.n_tokens >= seq.prompt_tokens && (!seq.greedy || seq.logprobs)) {
      argmax_on_backend = false;
    }
  }
  const LogitsMode mode = any_tree ? LogitsMode::kAllTokens : LogitsMode::kLastToken;
  const Status run = model.ForwardStage(batch, hidden_in, nullptr, mode,
                                        argmax_on_backend ? nullptr : &logits_, memory,
                                        argmax_on_backend ? &greedy_ : nullptr);
  if (input_ != nullptr) input_->Consumed();
  STRATA_RETURN_IF_ERROR(run.WithContext(where));
  STRATA_RETURN_IF_ERROR(
      SampleLocked(slices, tree, any_tree, argmax_on_backend, out.step_tokens, out).WithContext(where));
  return out;
}

Status Stage::SampleLocked(const std::vector<transport::SeqSlice>& slices,
                           std::span<const int16_t> tree, bool all_rows, bool argmax_on_backend,
                           int32_t step_tokens, StepOutput& out) {
  const size_t vocab = static_cast<size_t>(model_->model().config().vocab_size);
  std::vector<int32_t> emitted, accepted;
  size_t value = 0;
  for (size_t i = 0, offset = 0; i < slices.size(); offset += static_cast<size_t>(slices[i].n_tokens), ++i) {
    const transport::SeqSlice& slice = slices[i];
    const std::span<const int16_t> parents = tree.subspan(value, static_cast<size_t>(slice.tree_tokens));
    value += static_cast<size_t>(slice.tree_tokens + slice.kept);
    Sequence& seq = sequences_.at(slice.seq_id);
    if (slice.start_pos + slice.n_tokens < seq.prompt_tokens) continue;  // mid-prompt
    // The row of the slice's token `t` (its last, for a chain).
    auto row_of = [&](int32_t t) { return all_rows ? offset + static_cast<size_t>(t) : i; };
    auto sample = [&](size_t row) {
      SampledToken& sampled = out.tokens.emplace_back();
      sampled.seq_id = slice.seq_id;
      if (argmax_on_backend) {
        sampled.token = greedy_[row];
      } else {
        // A greedy sampler's ArgMax here is the backend's: the lowest id among equals.
        const std::span<const float> logits(logits_.data() + row * vocab, vocab);
        sampled.token = seq.sampler->Sample(logits);
        if (seq.logprobs) sampled.logprobs = LogprobsOf(logits, sampled.token, seq.top_logprobs);
      }
      return sampled.token;
    };
    emitted.clear();
    accepted.clear();
    if (slice.tree_tokens == 0) {
      emitted.push_back(sample(row_of(slice.n_tokens - 1)));
    } else {
      // The walk: the target's own next token at each node, down the child holding it.
      const TokenTree* proposal =
          speculator_ != nullptr ? speculator_->proposal(slice.seq_id) : nullptr;
      if (proposal == nullptr || proposal->size() != slice.n_tokens - 1) {
        return InvalidArgument("sequence " + std::to_string(slice.seq_id) +
                               " carries a tree of " + std::to_string(slice.n_tokens - 1) +
                               " nodes that this stage did not propose");
      }
      for (int32_t t = 1; t < slice.n_tokens; ++t) {
        if (parents[static_cast<size_t>(t)] - 1 != proposal->parent(t - 1)) {
          return InvalidArgument("sequence " + std::to_string(slice.seq_id) +
                                 "'s tree is not the one proposed (node " +
                                 std::to_string(t - 1) + "'s parent)");
        }
      }
      int32_t node = TokenTree::kRoot;
      while (true) {
        emitted.push_back(sample(row_of(node + 1)));
        const std::optional<int32_t> child = proposal->Child(node, emitted.back());
        if (!child || static_cast<int32_t>(emitted.size()) >= seq.remaining) break;
        accepted.push_back(*child);
        node = *child;
      }
    }
    if (speculator_ == nullptr || !speculator_->speculating(slice.seq_id)) continue;
    seq.remaining -= static_cast<int32_t>(emitted.size());
    STRATA_RETURN_IF_ERROR(speculator_->Advance(slice.seq_id, emitted, accepted, seq.remaining,
                                                step_tokens, out.speculative.emplace_back(),
                                                out.draft_ms));
  }
  return OkStatus();
}

transport::HopStats Stage::sent_stats() const {
  return output_ != nullptr ? output_->stats() : transport::HopStats{};
}

int32_t Stage::open_sequences() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int32_t>(sequences_.size());
}

transport::HopStats Stage::received_stats() const {
  return input_ != nullptr ? input_->stats() : transport::HopStats{};
}

}  // namespace strata::worker
