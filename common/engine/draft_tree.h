// DraftTree: grows a token tree with a small draft model, best first (as SpecExec's parallel
// search): the candidates are the draft's top `branch` next tokens below every expanded node,
// ranked by their path's cumulative draft log-probability; each round adds the best
// `expand_batch` candidates as nodes and runs them through the draft in one pass (a tree span
// over the nodes it cached before) to rank their children, until the tree holds `budget`
// nodes. The last round's nodes are not run (nothing would use their children), so the
// draft caches the tree's first expanded() nodes. One instance serves every sequence of the
// draft (a KV slot each); it allocates its scratch on first use and keeps it.
// Thread-safety: one thread drives an instance and its draft model.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/engine/llama_model.h"
#include "common/engine/token_tree.h"
#include "common/util/status.h"
#include "common/serving/speculation.h"

namespace strata {

struct DraftTreeShape {
  int32_t budget = 0;        // nodes at most (beside the root)
  int32_t branch = kDefaultDraftBranch;  // children ranked below each expanded node
  int32_t expand_batch = 8;  // nodes the draft runs per pass
  int32_t max_depth = 0;     // deepest node (the root's children are depth 1)
  float temperature = 1.0f;  // of the draft's distribution; > 0
};

class DraftTree {
 public:
  // `draft` must outlive this.
  explicit DraftTree(LlamaModel& draft) : draft_(draft) {}

  // Runs `chain` (the committed tokens the draft has not cached, the root last; at most the
  // draft's max_batch_tokens) from the draft's cached length in KV slot `slot` (acquired by
  // the caller), then grows `tree` (cleared first) to the shape. The tree's nodes are at rows
  // tree_base() + i of the slot; the draft caches nodes [0, expanded()). The accessors
  // describe the last Build. Errors: the draft's (its context full, …).
  Status Build(int32_t slot, std::span<const int32_t> chain, const DraftTreeShape& shape,
               TokenTree& tree);

  int32_t tree_base() const { return tree_base_; }
  int32_t expanded() const { return expanded_; }
  int32_t draft_passes() const { return passes_; }
  // (nodes) each node's path probability under the draft (the product down from the root).
  std::span<const double> path_probs() const { return node_prob_; }

 private:
  struct Candidate {
    double logprob;  // of the path from the root's child down to this token
    int32_t parent;  // TokenTree::kRoot or a node
    int32_t token;
    bool operator<(const Candidate& o) const { return logprob < o.logprob; }  // max-heap
  };
  // Pushes the `branch` best children of `parent` (whose path has `logprob`) ranked by the
  // draft's logits `row` (vocab).
  void PushChildren(std::span<const float> row, int32_t parent, double logprob,
                    const DraftTreeShape& shape);

  LlamaModel& draft_;
  int32_t slot_ = 0;  // of the Build running
  int32_t tree_base_ = 0;
  int32_t expanded_ = 0;
  int32_t passes_ = 0;
  BatchLayout batch_;
  std::vector<float> logits_;         // (rows, vocab) of the last draft pass
  std::vector<Candidate> heap_;       // candidates, a max-heap on logprob
  std::vector<double> node_logprob_;  // (nodes) each node's path log-probability
  std::vector<double> node_prob_;     // (nodes) exp of it
  std::vector<int32_t> order_;        // (vocab) scratch for the top-branch selection
};

}  // namespace strata
