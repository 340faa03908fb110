// DraftTree (see draft_tree.h).
#include "common/engine/draft_tree.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace strata {

Status DraftTree::Build(int32_t slot, std::span<const int32_t> chain,
                        const DraftTreeShape& shape, TokenTree& tree) {
  slot_ = slot;
  tree.Clear();
  heap_.clear();
  node_logprob_.clear();
  node_prob_.clear();
  expanded_ = 0;
  passes_ = 1;
  const int32_t start = draft_.kv_cache().length(slot_);
  tree_base_ = start + static_cast<int32_t>(chain.size());
  batch_.Clear();
  batch_.Add(slot_, start, chain.data(), static_cast<int32_t>(chain.size()));
  STRATA_RETURN_IF_ERROR(draft_.Forward(batch_, LogitsMode::kLastToken, &logits_));
  if (shape.budget <= 0 || shape.max_depth <= 0) return OkStatus();
  PushChildren(logits_, TokenTree::kRoot, 0.0, shape);
  const size_t vocab = static_cast<size_t>(draft_.config().vocab_size);
  while (tree.size() < shape.budget && !heap_.empty()) {
    const int32_t first = tree.size();
    const int32_t take = std::min(shape.expand_batch, shape.budget - first);
    bool deepens = false;  // some new node may have children
    for (int32_t i = 0; i < take && !heap_.empty(); ++i) {
      std::pop_heap(heap_.begin(), heap_.end());
      const Candidate c = heap_.back();
      heap_.pop_back();
      const int32_t node = tree.Add(c.parent, c.token);
      node_logprob_.push_back(c.logprob);
      node_prob_.push_back(std::exp(c.logprob));
      deepens = deepens || tree.depth(node) < shape.max_depth;
    }
    if (tree.size() >= shape.budget) break;
    if (!deepens) continue;  // no node of this round can have children: no draft pass yet
    // Every node not yet cached (a skipped round's too), so node i stays at row base + i.
    const int32_t from = expanded_;
    const int32_t n = tree.size() - from;
    batch_.Clear();
    tree.AppendSpan(batch_, slot_, tree_base_ + from, {}, from, n, tree_base_);
    STRATA_RETURN_IF_ERROR(draft_.Forward(batch_, LogitsMode::kAllTokens, &logits_));
    ++passes_;
    expanded_ = tree.size();
    for (int32_t i = 0; i < n; ++i) {
      const int32_t node = from + i;
      if (tree.depth(node) >= shape.max_depth) continue;
      PushChildren(std::span<const float>(logits_).subspan(static_cast<size_t>(i) * vocab, vocab),
                   node, node_logprob_[static_cast<size_t>(node)], shape);
    }
  }
  return OkStatus();
}

void DraftTree::PushChildren(std::span<const float> row, int32_t parent, double logprob,
                             const DraftTreeShape& shape) {
  const size_t k = std::min(static_cast<size_t>(shape.branch), row.size());
  order_.resize(row.size());
  std::iota(order_.begin(), order_.end(), 0);
  // The k largest logits, the lower id among equals (as ArgMax), best first.
  auto better = [&](int32_t a, int32_t b) {
    return row[static_cast<size_t>(a)] > row[static_cast<size_t>(b)] ||
           (row[static_cast<size_t>(a)] == row[static_cast<size_t>(b)] && a < b);
  };
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k), order_.end(),
                    better);
  // log-softmax at the shape's temperature: max-subtracted, summed in double.
  const double inv_t = 1.0 / static_cast<double>(shape.temperature);
  const double max = static_cast<double>(row[static_cast<size_t>(order_[0])]) * inv_t;
  double sum = 0.0;
  for (const float x : row) sum += std::exp(static_cast<double>(x) * inv_t - max);
  const double log_z = max + std::log(sum);
  for (size_t i = 0; i < k; ++i) {
    const int32_t token = order_[i];
    heap_.push_back({logprob + static_cast<double>(row[static_cast<size_t>(token)]) * inv_t - log_z,
                     parent, token});
    std::push_heap(heap_.begin(), heap_.end());
  }
}

}  // namespace strata
