// Speculator (see speculator.h).
#include "worker/speculator.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "common/engine/generator.h"
#include "common/engine/pack_placement.h"

namespace strata::worker {

using Clock = std::chrono::steady_clock;

StatusOr<std::unique_ptr<Speculator>> Speculator::Create(
    Backend& backend, const control::v1::Assignment& a, int64_t target_vocab) {
  PackPlacementRequest request;
  request.engine.max_batch_tokens = a.max_batch_tokens();
  request.engine.max_seq_len = a.max_seq_len();
  request.engine.kv_slots = a.kv_slots();
  request.overrides.force_tier = Tier::kGpu;  // the draft runs every round: never streamed
  StatusOr<PackPlacement> placed = PlacePack(backend, a.draft_model(), request);
  if (!placed.ok()) return placed.status().WithContext("the draft model " + a.draft_model());
  StatusOr<std::unique_ptr<PackModel>> draft =
      PackModel::Open(backend, a.draft_model(), placed->options);
  if (!draft.ok()) return draft.status().WithContext("the draft model " + a.draft_model());
  if ((*draft)->model().config().vocab_size != target_vocab) {
    return InvalidArgument("the draft model " + a.draft_model() + " has a vocabulary of " +
                           std::to_string((*draft)->model().config().vocab_size) +
                           " ids, the served model " + std::to_string(target_vocab) +
                           ": a draft must share the target's tokenizer");
  }
  return std::unique_ptr<Speculator>(new Speculator(a, std::move(draft).value()));
}

Speculator::Speculator(const control::v1::Assignment& assignment,
                       std::unique_ptr<PackModel> draft)
    : assignment_(assignment), draft_(std::move(draft)), drafter_(draft_->model()) {}

Status Speculator::Open(uint64_t seq_id, std::span<const int32_t> context) {
  const std::optional<int32_t> slot = draft_->model().kv_cache().Acquire();
  if (!slot) {
    return ResourceExhausted("the draft model has no free KV slot for sequence " +
                             std::to_string(seq_id));
  }
  Seq& seq = seqs_.insert_or_assign(seq_id, Seq(assignment_.speculative_tree_tokens())).first->second;
  seq.slot = *slot;
  seq.chain.assign(context.begin(), context.end());
  return OkStatus();
}

void Speculator::Close(uint64_t seq_id) {
  const auto it = seqs_.find(seq_id);
  if (it == seqs_.end()) return;
  draft_->model().kv_cache().Release(it->second.slot);
  seqs_.erase(it);
}

const TokenTree* Speculator::proposal(uint64_t seq_id) const {
  const auto it = seqs_.find(seq_id);
  if (it == seqs_.end() || it->second.tree.size() == 0) return nullptr;
  return &it->second.tree;
}

Status Speculator::Advance(uint64_t seq_id, std::span<const int32_t> emitted,
                           std::span<const int32_t> accepted, int32_t remaining,
                           int32_t step_tokens, control::v1::SpeculativeOutcome& out,
                           double& draft_ms) {
  Seq& seq = seqs_.at(seq_id);
  LlamaModel& draft = draft_->model();
  const auto start = Clock::now();
  out.set_seq_id(seq_id);
  if (seq.tree.size() > 0) {
    // The pass that verified it: its cost and what it yielded, for the next tree's size.
    if (seq.proposed_at) {
      const double pass_ms = std::chrono::duration<double, std::milli>(start - *seq.proposed_at)
                                 .count();
      seq.budget.Observe(seq.proposed_tokens, pass_ms, seq.expected,
                         static_cast<int32_t>(accepted.size()));
    }
    // The draft keeps the accepted nodes it cached (a prefix of the path); the rest join the
    // chain it runs next.
    std::vector<int32_t> kept;
    for (const int32_t node : accepted) {
      out.add_accepted_nodes(node);
      if (node < seq.expanded) kept.push_back(seq.tree_base + node);
    }
    STRATA_RETURN_IF_ERROR(
        draft.kv_cache().KeepRows(draft.backend(), seq.slot, seq.tree_base, kept));
    seq.chain.clear();
    for (size_t i = kept.size(); i < accepted.size(); ++i) {
      seq.chain.push_back(seq.tree.token(accepted[i]));
    }
    seq.tree.Clear();
  }
  seq.chain.push_back(emitted.back());  // the root of the next tree
  seq.proposed_at.reset();
  if (remaining > 1) {
    // A long chain (the prompt, at first) runs in chunks; its last token starts the tree.
    if (seq.chain.size() > 1) {
      STRATA_RETURN_IF_ERROR(Prefill(draft, seq.slot,
                                     std::span<const int32_t>(seq.chain).first(seq.chain.size() - 1),
                                     logits_)
                                 .WithContext("the draft model"));
      seq.chain.erase(seq.chain.begin(), seq.chain.end() - 1);
    }
    const bool adaptive = assignment_.speculative_adaptive();
    DraftTreeShape shape;
    const int32_t rows_left = draft.max_seq_len() - draft.kv_cache().length(seq.slot) - 1;
    shape.budget = std::min(adaptive ? seq.budget.BuildCap() : assignment_.speculative_tree_tokens(),
                            rows_left);
    shape.branch = assignment_.draft_branch();
    shape.max_depth = remaining - 1;
    STRATA_RETURN_IF_ERROR(
        drafter_.Build(seq.slot, seq.chain, shape, seq.tree).WithContext("the draft model"));
    const double build_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    // The next pass holds the other sequences' tokens too: they move its cost.
    const int32_t others = std::max(step_tokens - 1, 0);
    if (adaptive) seq.tree.Truncate(seq.budget.Choose(drafter_.path_probs(), build_ms, others));
    seq.chain.clear();
    seq.tree_base = drafter_.tree_base();
    seq.expanded = std::min(drafter_.expanded(), seq.tree.size());
    const std::span<const double> probs =
        drafter_.path_probs().first(static_cast<size_t>(seq.tree.size()));
    seq.expected = std::accumulate(probs.begin(), probs.end(), 0.0);
    for (int32_t node = 0; node < seq.tree.size(); ++node) {
      out.add_next_tokens(seq.tree.token(node));
      out.add_next_parents(seq.tree.parent(node));
    }
    seq.proposed_tokens = others + seq.tree.size() + 1;
    seq.proposed_at = Clock::now();
  }
  draft_ms += std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return OkStatus();
}

}  // namespace strata::worker
