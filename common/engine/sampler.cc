// Sampler (see sampler.h).
#include "common/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace strata {

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0.0f) {
    return InvalidArgument("temperature must be a finite number >= 0 (0 means greedy), got " +
                           std::to_string(p.temperature));
  }
  if (p.top_k < 0) {
    return InvalidArgument("top_k must be >= 0 (0 means no limit), got " + std::to_string(p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return InvalidArgument("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  return OkStatus();
}

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature == 0.0f || params_.top_k == 1) return ArgMax(logits);
  const size_t vocab = logits.size();
  const size_t k = params_.top_k > 0 ? std::min<size_t>(static_cast<size_t>(params_.top_k), vocab)
                                     : vocab;
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  auto better = [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(k), order_.end(),
                    better);
  order_.resize(k);

  // Softmax of logits / temperature over the top-k candidates.
  const double inv_t = 1.0 / params_.temperature;
  const double top = logits[static_cast<size_t>(order_[0])] * inv_t;
  probs_.resize(k);
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) {
    probs_[i] = std::exp(logits[static_cast<size_t>(order_[i])] * inv_t - top);
    sum += probs_[i];
  }
  // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
  size_t keep = k;
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    for (size_t i = 0; i < k; ++i) {
      cumulative += probs_[i] / sum;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept_sum = 0.0;
  for (size_t i = 0; i < keep; ++i) kept_sum += probs_[i];
  double target = Uniform() * kept_sum;
  for (size_t i = 0; i < keep; ++i) {
    target -= probs_[i];
    if (target < 0.0) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace strata
