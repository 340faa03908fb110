// TreeBudget (see tree_budget.h).
#include "common/engine/tree_budget.h"

#include <algorithm>
#include <bit>

namespace strata {

int TreeBudget::Bucket(int32_t tokens) {
  const int b = std::bit_width(static_cast<uint32_t>(std::max(tokens, 1))) - 1;
  return std::min(b, kBuckets - 1);
}

double TreeBudget::CostMs(int32_t tokens) const {
  for (int b = Bucket(tokens); b >= 0; --b) {
    if (cost_ms_[static_cast<size_t>(b)] > 0) return cost_ms_[static_cast<size_t>(b)];
  }
  for (int b = Bucket(tokens) + 1; b < kBuckets; ++b) {  // only larger passes measured
    if (cost_ms_[static_cast<size_t>(b)] > 0) return cost_ms_[static_cast<size_t>(b)];
  }
  return 0.0;
}

double TreeBudget::calibration() const {
  // Bounded so that one unlucky stretch neither stops speculation nor inflates it.
  constexpr double kMin = 0.05, kMax = 2.0;
  if (expected_sum_ <= 0.0) return 1.0;
  return std::clamp(accepted_sum_ / expected_sum_, kMin, kMax);
}

int32_t TreeBudget::BuildCap() const {
  if (last_choice_ < 0) return cap_;
  return std::min(cap_, std::max(kMinBuild, 2 * last_choice_));
}

int32_t TreeBudget::Choose(std::span<const double> path_probs, double draft_ms,
                           int32_t other_tokens) {
  const int32_t limit = std::min(cap_, static_cast<int32_t>(path_probs.size()));
  const double kappa = calibration();
  int32_t best = 0;
  double best_rate = 0.0;
  double expected = 0.0;
  for (int32_t n = 0; n <= limit; ++n) {
    if (n > 0) expected += path_probs[static_cast<size_t>(n - 1)];
    // With nothing measured yet every size costs the same: take them all.
    const double ms = std::max(CostMs(other_tokens + n + 1) + draft_ms, 1e-9);
    const double rate = (1.0 + kappa * expected) / ms;
    if (rate > best_rate) {
      best_rate = rate;
      best = n;
    }
  }
  last_choice_ = best;
  return best;
}

void TreeBudget::Observe(int32_t tokens, double ms, double expected, int32_t accepted) {
  double& cost = cost_ms_[static_cast<size_t>(Bucket(tokens))];
  cost = cost > 0 ? kDecay * cost + (1.0 - kDecay) * ms : ms;
  expected_sum_ = kDecay * expected_sum_ + expected;
  accepted_sum_ = kDecay * accepted_sum_ + accepted;
}

}  // namespace strata
