// TokenTree (see token_tree.h).
#include "common/engine/token_tree.h"

#include <algorithm>

#include "common/util/check.h"

namespace strata {

void TokenTree::Clear() {
  tokens_.clear();
  parents_.clear();
  depths_.clear();
  masks_.clear();
}

void TokenTree::Truncate(int32_t n) {
  STRATA_CHECK(n >= 0 && n <= size());
  tokens_.resize(static_cast<size_t>(n));
  parents_.resize(static_cast<size_t>(n));
  depths_.resize(static_cast<size_t>(n));
  masks_.resize(static_cast<size_t>(n) * kTreeMaskWords);
}

int32_t TokenTree::Add(int32_t parent, int32_t token) {
  STRATA_CHECK(size() < kMaxTreeRows && parent >= kRoot && parent < size());
  const int32_t node = size();
  tokens_.push_back(token);
  parents_.push_back(parent);
  depths_.push_back(parent == kRoot ? 1 : depth(parent) + 1);
  const size_t at = masks_.size();
  if (parent == kRoot) {
    masks_.resize(at + kTreeMaskWords, 0);
  } else {
    const size_t from = static_cast<size_t>(parent) * kTreeMaskWords;
    masks_.insert(masks_.end(), masks_.begin() + static_cast<std::ptrdiff_t>(from),
                  masks_.begin() + static_cast<std::ptrdiff_t>(from + kTreeMaskWords));
  }
  masks_[at + static_cast<size_t>(node / 64)] |= uint64_t{1} << (node % 64);
  return node;
}

std::optional<int32_t> TokenTree::Child(int32_t node, int32_t token) const {
  for (int32_t i = node + 1; i < size(); ++i) {  // children follow their parent
    if (parents_[static_cast<size_t>(i)] == node && tokens_[static_cast<size_t>(i)] == token) {
      return i;
    }
  }
  return std::nullopt;
}

void TokenTree::AppendSpan(BatchLayout& batch, int32_t kv_slot, int32_t start_pos,
                           std::span<const int32_t> chain, int32_t first, int32_t n,
                           int32_t tree_base) const {
  STRATA_CHECK(first >= 0 && n >= 0 && first + n <= size());
  if (!chain.empty()) tree_base = start_pos + static_cast<int32_t>(chain.size());
  // The span's nodes sit at rows start_pos + chain.size() + (i - first) = tree_base + i.
  STRATA_CHECK(tree_base + first == start_pos + static_cast<int32_t>(chain.size()));
  const size_t count = chain.size() + static_cast<size_t>(n);
  span_ids_.assign(chain.begin(), chain.end());
  span_positions_.clear();
  span_masks_.assign(count * kTreeMaskWords, 0);
  for (size_t i = 0; i < chain.size(); ++i) {
    span_positions_.push_back(start_pos + static_cast<int32_t>(i));
  }
  for (int32_t node = first; node < first + n; ++node) {
    span_ids_.push_back(token(node));
    span_positions_.push_back(tree_base - 1 + depth(node));
    std::copy_n(masks_.begin() + static_cast<std::ptrdiff_t>(node) * kTreeMaskWords,
                kTreeMaskWords,
                span_masks_.begin() +
                    static_cast<std::ptrdiff_t>(chain.size() + static_cast<size_t>(node - first)) *
                        kTreeMaskWords);
  }
  batch.AddTree(kv_slot, start_pos, tree_base, span_ids_.data(), span_positions_.data(),
                span_masks_.data(), static_cast<int32_t>(count));
}

}  // namespace strata
