// Speculator: the last stage's share of speculative decoding — the draft model (a pack,
// GPU-resident), and per speculating sequence its draft KV slot, the committed tokens its
// draft has not run yet, the tree it last proposed (which the next step verifies), and the
// TreeBudget that sizes its trees ("auto"). After each step the stage hands it the tokens the
// sequence emitted (and the accepted nodes of a verified tree); it keeps the draft's cache to
// the accepted path and grows the next tree below the last token.
// Thread-safety: the stage's mutex guards every call (the stage calls it from its compute
// thread and its control thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/backend/backend.h"
#include "common/engine/draft_tree.h"
#include "common/engine/pack_model.h"
#include "common/engine/token_tree.h"
#include "common/engine/tree_budget.h"
#include "common/proto/strata_control.pb.h"
#include "common/util/status.h"

namespace strata::worker {

class Speculator {
 public:
  // Opens the assignment's draft pack with every layer on the GPU (limits: the target's,
  // its batches at least a tree and its root). Errors: the pack's; a draft whose vocabulary
  // differs from the target's (kInvalidArgument); memory (kResourceExhausted).
  static StatusOr<std::unique_ptr<Speculator>> Create(Backend& backend,
                                                      const control::v1::Assignment& assignment,
                                                      int64_t target_vocab);

  // Takes a draft KV slot for the sequence, whose prompt is `context`.
  Status Open(uint64_t seq_id, std::span<const int32_t> context);
  void Close(uint64_t seq_id);
  bool speculating(uint64_t seq_id) const { return seqs_.count(seq_id) != 0; }
  // The tree last proposed for the sequence; null when none is pending.
  const TokenTree* proposal(uint64_t seq_id) const;

  // After a step of a speculating sequence: it emitted `emitted` (a chain step: one token; a
  // verified tree: the accepted nodes' tokens and one more, `accepted` their nodes) and may
  // generate `remaining` more after them (0: unknown, no tree). The step carried
  // `step_tokens` tokens of all sequences. Fills `out` (accepted nodes, the next tree) and
  // adds the draft's time to `draft_ms`. Errors: the draft model's.
  Status Advance(uint64_t seq_id, std::span<const int32_t> emitted,
                 std::span<const int32_t> accepted, int32_t remaining, int32_t step_tokens,
                 control::v1::SpeculativeOutcome& out, double& draft_ms);

 private:
  struct Seq {
    explicit Seq(int32_t tree_tokens) : budget(tree_tokens) {}
    int32_t slot = 0;
    std::vector<int32_t> chain;  // committed tokens the draft has not run (the root last)
    TokenTree tree;              // the proposal being verified (empty: none)
    int32_t tree_base = 0;       // its rows in the draft's cache
    int32_t expanded = 0;        // its first nodes the draft cached
    double expected = 0.0;       // Σ of its nodes' path probabilities
    TreeBudget budget;
    std::optional<std::chrono::steady_clock::time_point> proposed_at;
    int32_t proposed_tokens = 0;  // the step tokens the proposal's pass was sized for
  };

  Speculator(const control::v1::Assignment& assignment, std::unique_ptr<PackModel> draft);

  const control::v1::Assignment assignment_;
  std::unique_ptr<PackModel> draft_;
  DraftTree drafter_;
  std::map<uint64_t, Seq> seqs_;
  std::vector<float> logits_;  // Prefill's scratch (vocab)
};

}  // namespace strata::worker
