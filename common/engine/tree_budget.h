// TreeBudget: how many nodes of a best-first token tree one verify pass should carry
// (speculation "auto"). Node i's path probability under the draft, p_i, is the chance the
// target accepts it if the draft is calibrated, so a pass over the first n nodes yields
// 1 + κ·Σ_{i<n} p_i tokens, where κ is the measured ratio of accepted nodes to that sum (the
// draft's calibration, 1 until measured). Choose returns the n that maximises tokens per
// second, that yield over (cost(n + 1) + the draft's time), where cost(t) is the measured
// time of a target pass over t tokens: flat while the pass is transfer-bound, rising once it
// is compute-bound. A bucket never measured costs what the nearest measured one below it
// does (flat), so a larger tree is tried once and then judged by its measured cost.
// Thread-safety: one thread (the generation's) uses an instance.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/backend/batch.h"

namespace strata {

class TreeBudget {
 public:
  // `cap`: the most nodes a tree may have, in [0, kMaxTreeRows].
  explicit TreeBudget(int32_t cap) : cap_(cap) {}

  // How many nodes to ask the draft for: twice the last choice, at least kMinBuild, at most
  // the cap (the draft's time grows with the tree; what is not verified is wasted).
  int32_t BuildCap() const;
  // Of a tree whose nodes have path probabilities `path_probs` (best first, as DraftTree
  // adds them), how many the pass should verify; `draft_ms` is the time spent drafting it and
  // `other_tokens` the tokens of other sequences the pass carries (a full batch leaves no
  // room to speculate: the nodes then cost compute).
  int32_t Choose(std::span<const double> path_probs, double draft_ms, int32_t other_tokens = 0);
  // A verify pass over `tokens` tokens took `ms`; the `nodes` it verified expected
  // `expected` accepted (Σ p_i) and `accepted` were.
  void Observe(int32_t tokens, double ms, double expected, int32_t accepted);
  // The modelled time of a pass over `tokens` tokens (0 before any pass was measured).
  double CostMs(int32_t tokens) const;
  double calibration() const;  // κ

 private:
  // Bucket b holds passes of [2^b, 2^(b+1)) tokens; up to kMaxTreeRows + 1 tokens.
  static constexpr int kBuckets = 11;
  static constexpr double kDecay = 0.9;  // weight of the past in the running means
  static int Bucket(int32_t tokens);

  static constexpr int32_t kMinBuild = 8;

  int32_t cap_;
  int32_t last_choice_ = -1;  // -1: none yet (build the cap)
  std::array<double, kBuckets> cost_ms_{};  // running mean per bucket, 0 = never measured
  double expected_sum_ = 0.0;                // decayed sums behind κ
  double accepted_sum_ = 0.0;
};

}  // namespace strata
