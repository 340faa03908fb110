// GenerateSpeculative (see speculative.h).
#include "common/engine/speculative.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <string>
#include <vector>

#include "common/engine/draft_tree.h"
#include "common/engine/token_tree.h"
#include "common/engine/tree_budget.h"

namespace strata {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// One round's outcome: the tokens emitted (the accepted nodes' then the target's next) and
// the accepted nodes, root first down.
struct Walk {
  std::vector<int32_t> tokens;
  std::vector<int32_t> nodes;
  std::optional<FinishReason> finish;
};

}  // namespace

Status ValidateSpeculativeOptions(const SpeculativeOptions& o) {
  if (o.tree_tokens < 0 || o.tree_tokens > kMaxTreeRows) {
    return InvalidArgument("the speculative tree size must be in [0, " +
                           std::to_string(kMaxTreeRows) + "], got " +
                           std::to_string(o.tree_tokens));
  }
  if (o.branch < 1) {
    return InvalidArgument("the draft's branching must be >= 1, got " + std::to_string(o.branch));
  }
  if (o.expand_batch < 1) {
    return InvalidArgument("the draft's expansion batch must be >= 1, got " +
                           std::to_string(o.expand_batch));
  }
  return OkStatus();
}

StatusOr<SpeculativeResult> GenerateSpeculative(LlamaModel& target, LlamaModel& draft,
                                                std::span<const int32_t> prompt,
                                                const GenerateOptions& options,
                                                const SpeculativeOptions& speculative,
                                                const TokenCallback& on_token) {
  STRATA_RETURN_IF_ERROR(ValidateGenerate(target, prompt, options));
  STRATA_RETURN_IF_ERROR(ValidateGenerate(draft, prompt, options).WithContext("the draft model"));
  STRATA_RETURN_IF_ERROR(ValidateSpeculativeOptions(speculative));
  if (draft.config().vocab_size != target.config().vocab_size) {
    return InvalidArgument("the draft model's vocabulary (" +
                           std::to_string(draft.config().vocab_size) +
                           " ids) is not the target's (" +
                           std::to_string(target.config().vocab_size) +
                           "): a draft must share the target's tokenizer");
  }
  // A draft pass runs at most the tree's nodes; its first, the chain of at most a tree's
  // path and the root.
  if (target.options().max_batch_tokens < speculative.tree_tokens + 1 ||
      draft.options().max_batch_tokens < speculative.tree_tokens + 1) {
    return InvalidArgument("a speculative tree of " + std::to_string(speculative.tree_tokens) +
                           " tokens needs batches of " +
                           std::to_string(speculative.tree_tokens + 1) +
                           " tokens in the target and the draft (max_batch_tokens " +
                           std::to_string(target.options().max_batch_tokens) + " and " +
                           std::to_string(draft.options().max_batch_tokens) + ")");
  }
  STRATA_ASSIGN_OR_RETURN(SlotLease target_slot, SlotLease::Acquire(target.kv_cache()));
  STRATA_ASSIGN_OR_RETURN(SlotLease draft_slot, SlotLease::Acquire(draft.kv_cache()));
  KvCache& target_kv = target.kv_cache();
  KvCache& draft_kv = draft.kv_cache();

  SpeculativeResult out;
  GenerateResult& result = out.generated;
  SpeculativeStats& stats = out.stats;
  std::vector<float> logits;
  const auto prefill_start = Clock::now();
  STRATA_RETURN_IF_ERROR(Prefill(target, target_slot.slot(), prompt, logits));
  result.prompt_last_logits = logits;
  // The draft prefills all but the last prompt token: that one starts its first chain.
  std::vector<float> draft_logits;
  std::vector<int32_t> chain(prompt.end() - 1, prompt.end());  // committed, not in the draft
  if (prompt.size() > 1) {
    STRATA_RETURN_IF_ERROR(
        Prefill(draft, draft_slot.slot(), prompt.first(prompt.size() - 1), draft_logits));
  }
  result.prefill_seconds = Seconds(prefill_start, Clock::now());
  if (options.max_tokens == 0) return out;

  const auto decode_start = Clock::now();
  Sampler sampler(options.sampling);
  const bool greedy = options.sampling.temperature == 0.0f || options.sampling.top_k == 1;
  auto emit = [&](int32_t id) -> std::optional<FinishReason> {
    result.output_ids.push_back(id);
    if (on_token) on_token(id);
    return FinishAfter(id, static_cast<int32_t>(result.output_ids.size()), options.max_tokens,
                       options.stop_ids);
  };
  // The first token comes from the prefill, as in Generate.
  if (const std::optional<FinishReason> finish = emit(sampler.Sample(logits))) {
    result.finish_reason = *finish;
    result.decode_seconds = Seconds(decode_start, Clock::now());
    return out;
  }
  chain.push_back(result.output_ids.back());

  DraftTree drafter(draft);
  TreeBudget budget(speculative.tree_tokens);
  TokenTree tree;
  BatchLayout batch;
  std::vector<int32_t> greedy_ids;
  std::vector<int32_t> kept;
  const size_t vocab = static_cast<size_t>(target.config().vocab_size);
  while (true) {
    // The root (chain's last token) is uncached in both models; the target's cache holds
    // the committed prefix before it.
    const int32_t root_row = target_kv.length(target_slot.slot());
    const int32_t tree_base = root_row + 1;
    const int32_t remaining = options.max_tokens - static_cast<int32_t>(result.output_ids.size());
    DraftTreeShape shape;
    shape.budget =
        std::min({speculative.adaptive ? budget.BuildCap() : speculative.tree_tokens,
                  target.max_seq_len() - tree_base, draft.max_seq_len() - tree_base});
    shape.branch = speculative.branch;
    shape.expand_batch = speculative.expand_batch;
    shape.max_depth = remaining - 1;  // the pass always yields one token beyond the path
    shape.temperature = greedy ? 1.0f : options.sampling.temperature;
    const auto draft_start = Clock::now();
    STRATA_RETURN_IF_ERROR(drafter.Build(draft_slot.slot(), chain, shape, tree).WithContext("the draft model"));
    STRATA_CHECK(drafter.tree_base() == tree_base);
    const double draft_seconds = Seconds(draft_start, Clock::now());
    if (speculative.adaptive) {
      tree.Truncate(budget.Choose(drafter.path_probs(), draft_seconds * 1e3));
    }
    const auto verify_start = Clock::now();
    stats.draft_seconds += draft_seconds;
    stats.draft_passes += drafter.draft_passes();

    batch.Clear();
    const int32_t root[] = {chain.back()};
    tree.AppendSpan(batch, target_slot.slot(), root_row, root, 0, tree.size(), 0);
    if (greedy) {
      STRATA_RETURN_IF_ERROR(target.ForwardStage(batch, {}, nullptr, LogitsMode::kAllTokens,
                                                 nullptr, ActivationMemory::kHost, &greedy_ids));
    } else {
      STRATA_RETURN_IF_ERROR(target.Forward(batch, LogitsMode::kAllTokens, &logits));
    }
    const double verify_seconds = Seconds(verify_start, Clock::now());
    stats.verify_seconds += verify_seconds;
    ++stats.passes;
    stats.tree_nodes += tree.size();

    // The walk: row 0 is the root's, row 1 + i node i's.
    Walk walk;
    int32_t node = TokenTree::kRoot;
    while (!walk.finish) {
      const size_t row = static_cast<size_t>(node + 1);
      const int32_t id = greedy ? greedy_ids[row]
                                : sampler.Sample(std::span<const float>(logits).subspan(
                                      row * vocab, vocab));
      walk.tokens.push_back(id);
      walk.finish = emit(id);
      const std::optional<int32_t> child = tree.Child(node, id);
      if (!child) break;
      walk.nodes.push_back(*child);
      node = *child;
    }
    stats.accepted += static_cast<int64_t>(walk.nodes.size());
    const std::span<const double> probs = drafter.path_probs().first(static_cast<size_t>(tree.size()));
    budget.Observe(tree.size() + 1, verify_seconds * 1e3,
                   std::accumulate(probs.begin(), probs.end(), 0.0),
                   static_cast<int32_t>(walk.nodes.size()));
    if (walk.finish) {
      result.finish_reason = *walk.finish;
      break;
    }
    // Keep the accepted path: the target's cache holds the root's row and the nodes'; the
    // draft's the nodes it expanded (a prefix of the path), the rest join the next chain.
    kept.clear();
    for (const int32_t n : walk.nodes) kept.push_back(tree_base + n);
    STRATA_RETURN_IF_ERROR(target_kv.KeepRows(target.backend(), target_slot.slot(), tree_base,
                                              kept));
    const auto in_draft = std::find_if(walk.nodes.begin(), walk.nodes.end(),
                                       [&](int32_t n) { return n >= drafter.expanded(); });
    kept.resize(static_cast<size_t>(in_draft - walk.nodes.begin()));
    STRATA_RETURN_IF_ERROR(draft_kv.KeepRows(draft.backend(), draft_slot.slot(), tree_base,
                                             kept));
    chain.clear();
    for (auto it = in_draft; it != walk.nodes.end(); ++it) chain.push_back(tree.token(*it));
    chain.push_back(walk.tokens.back());  // the next root
  }
  result.decode_seconds = Seconds(decode_start, Clock::now());
  return out;
}

}  // namespace strata
