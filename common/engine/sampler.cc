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
  const double inv_t = 1.0 / params_.temperature;
  const double top = logits[static_cast<size_t>(ArgMax(logits))] * inv_t;
  const auto weight = [&](size_t id) { return std::exp(logits[id] * inv_t - top); };

  if (params_.top_k == 0 && params_.top_p >= 1.0f) {
    // Every token is a candidate: draw over the vocabulary in id order, nothing to sort.
    probs_.resize(vocab);
    double sum = 0.0;
    for (size_t i = 0; i < vocab; ++i) sum += probs_[i] = weight(i);
    double target = Uniform() * sum;
    for (size_t i = 0; i < vocab; ++i) {
      target -= probs_[i];
      if (target < 0.0) return static_cast<int32_t>(i);
    }
    return ArgMax(logits);  // rounding left the target at the very end
  }

  // Candidates best first: the top_k best (sorted at once); with no top_k, the nucleus is
  // found among the best kFirstCandidates, widened while they hold less than top_p of the
  // mass (a sort of the whole vocabulary costs milliseconds per token; the nucleus is
  // usually far smaller).
  constexpr size_t kFirstCandidates = 256, kWiden = 16;
  const size_t k = params_.top_k > 0
                       ? std::min<size_t>(static_cast<size_t>(params_.top_k), vocab)
                       : vocab;
  double total = 0.0;  // the softmax denominator over the k candidates
  if (k == vocab) {
    for (size_t i = 0; i < vocab; ++i) total += weight(i);
  }
  auto better = [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  };
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  size_t sorted = k < vocab ? k : std::min(k, kFirstCandidates);
  size_t keep = 0;
  while (keep == 0) {
    const auto end = order_.begin() + static_cast<std::ptrdiff_t>(sorted);
    if (sorted < vocab) std::nth_element(order_.begin(), end, order_.end(), better);
    std::sort(order_.begin(), end, better);
    probs_.resize(sorted);
    for (size_t i = 0; i < sorted; ++i) probs_[i] = weight(static_cast<size_t>(order_[i]));
    if (k < vocab) {  // sorted == k: the candidates are all here
      for (size_t i = 0; i < sorted; ++i) total += probs_[i];
    }
    // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
    double cumulative = 0.0;
    for (size_t i = 0; i < sorted && params_.top_p < 1.0f; ++i) {
      cumulative += probs_[i] / total;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    if (keep == 0 && sorted == k) keep = k;
    sorted = std::min(k, sorted * kWiden);
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
