// TokenTree: the candidate continuations of one sequence that a draft model proposes and a
// verify pass checks (speculative decoding). The root is the sequence's last accepted token,
// which is not a node: it sits at cache row tree_base - 1, the last row of the committed
// prefix. Node i (added in an order where every parent precedes its children) occupies row
// tree_base + i in the target's cache and in the draft's, and attends to the committed prefix
// and to its ancestors. Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/backend/batch.h"

namespace strata {

class TokenTree {
 public:
  static constexpr int32_t kRoot = -1;  // the parent of the root's children

  // Forgets every node.
  void Clear();
  // Keeps nodes [0, n) (a prefix keeps every kept node's parent).
  void Truncate(int32_t n);
  // Appends a node holding `token` under `parent` (kRoot or an existing node) and returns its
  // index. At most kMaxTreeRows nodes.
  int32_t Add(int32_t parent, int32_t token);

  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t token(int32_t node) const { return tokens_[static_cast<size_t>(node)]; }
  int32_t parent(int32_t node) const { return parents_[static_cast<size_t>(node)]; }
  int32_t depth(int32_t node) const { return depths_[static_cast<size_t>(node)]; }  // root's child: 1
  // The child of `node` (kRoot for the root) that holds `token`, if any.
  std::optional<int32_t> Child(int32_t node, int32_t token) const;

  // Appends to `batch` one span of the sequence in `kv_slot` whose cache holds `start_pos`
  // rows: the committed tokens `chain` (at least the root, last), then nodes [first, first +
  // n). The tree's base row is start_pos + chain.size() when `chain` is given; with an empty
  // `chain` (nodes whose parents a previous pass cached) pass it in `tree_base`.
  void AppendSpan(BatchLayout& batch, int32_t kv_slot, int32_t start_pos,
                  std::span<const int32_t> chain, int32_t first, int32_t n,
                  int32_t tree_base) const;

 private:
  std::vector<int32_t> tokens_;   // (nodes)
  std::vector<int32_t> parents_;  // (nodes) kRoot or an earlier node
  std::vector<int32_t> depths_;   // (nodes) 1 below the root
  std::vector<uint64_t> masks_;   // (nodes, kTreeMaskWords) ancestors and itself, bit = node
  // Scratch of AppendSpan: (span tokens) positions and (span tokens, kTreeMaskWords) masks.
  mutable std::vector<int32_t> span_positions_;
  mutable std::vector<uint64_t> span_masks_;
  mutable std::vector<int32_t> span_ids_;
};

}  // namespace strata
