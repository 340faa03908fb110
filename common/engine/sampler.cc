// Sampler (see sampler.h).
#include "common/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace strata {

int32_t ArgMax(std::span<const float> logits) {
  // The maximum through eight independent running maxima (the compiler keeps them in one
  // vector register; max_element's single chain is several times slower on a 128k
  // vocabulary), then the first position holding it: max_element's answer, NaN included.
  constexpr size_t kLanes = 8;
  const size_t n = logits.size();
  if (n == 0) return 0;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, logits[0]);
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) lane[j] = logits[i + j] > lane[j] ? logits[i + j] : lane[j];
  }
  float best = lane[0];
  for (size_t j = 1; j < kLanes; ++j) best = lane[j] > best ? lane[j] : best;
  for (; i < n; ++i) best = logits[i] > best ? logits[i] : best;
  const size_t at = static_cast<size_t>(std::find(logits.begin(), logits.end(), best) - logits.begin());
  return static_cast<int32_t>(at < n ? at : 0);  // a NaN first logit: 0, as max_element
}

namespace {

// `best` = the k best entries of `logits`, made by make(logit, id), best first by `better`. A
// heap of the k best so far whose front is the worst of them: most logits fail one comparison
// with it, so this is one pass over the vocabulary, not a sort of it.
template <typename Entry, typename Make, typename Better>
void SelectBestInto(std::span<const float> logits, size_t k, std::vector<Entry>& best, Make make,
                    Better better) {
  best.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    const Entry c = make(logits[i], static_cast<int32_t>(i));
    if (best.size() < k) {
      best.push_back(c);
      std::push_heap(best.begin(), best.end(), better);
    } else if (better(c, best.front())) {
      std::pop_heap(best.begin(), best.end(), better);
      best.back() = c;
      std::push_heap(best.begin(), best.end(), better);
    }
  }
  std::sort_heap(best.begin(), best.end(), better);  // best first
}

}  // namespace

TokenLogprobs LogprobsOf(std::span<const float> logits, int32_t token, int32_t top_n) {
  TokenLogprobs out;
  const size_t vocab = logits.size();
  if (vocab == 0) return out;
  // log p_i = (l_i - max) - log(sum_j exp(l_j - max)): every exponent <= 0, so nothing
  // overflows, and the largest term is 1, so the sum is >= 1 and its log is well conditioned.
  const float top = logits[static_cast<size_t>(ArgMax(logits))];
  double sum = 0.0;
  for (size_t i = 0; i < vocab; ++i) sum += static_cast<double>(std::exp(logits[i] - top));
  const double log_sum = std::log(sum);
  const auto logprob = [&](float logit) {
    return static_cast<float>(static_cast<double>(logit) - static_cast<double>(top) - log_sum);
  };
  out.logprob = token >= 0 && static_cast<size_t>(token) < vocab
                    ? logprob(logits[static_cast<size_t>(token)])
                    : -std::numeric_limits<float>::infinity();  // not in the vocabulary

  // The top_n best (logit, id) by a heap whose front is the worst of them (as SelectBest);
  // `logprob` holds the logit until the end.
  const size_t k = std::min(static_cast<size_t>(std::max(top_n, 0)), vocab);
  if (k == 0) return out;
  out.top.reserve(k);
  SelectBestInto(
      logits, k, out.top, [](float logit, int32_t id) { return TokenLogprob{id, logit}; },
      [](const TokenLogprob& a, const TokenLogprob& b) {
        return a.logprob > b.logprob || (a.logprob == b.logprob && a.id < b.id);
      });
  for (TokenLogprob& t : out.top) t.logprob = logprob(t.logprob);
  return out;
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

double Sampler::Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

bool Sampler::Better(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

void Sampler::SelectBest(std::span<const float> logits, size_t k) {
  SelectBestInto(
      logits, k, best_, [](float logit, int32_t id) { return Candidate{logit, id}; }, Better);
}

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature == 0.0f || params_.top_k == 1) return ArgMax(logits);
  const size_t vocab = logits.size();
  const float inv_t = 1.0f / params_.temperature;
  const float top = logits[static_cast<size_t>(ArgMax(logits))] * inv_t;
  // exp in float (as a float32 softmax computes it), sums in double.
  const auto weight = [&](float logit) { return static_cast<double>(std::exp(logit * inv_t - top)); };

  if (params_.top_k == 0 && params_.top_p >= 1.0f) {
    // Every token is a candidate: draw over the vocabulary in id order, nothing to sort.
    probs_.resize(vocab);
    double sum = 0.0;
    for (size_t i = 0; i < vocab; ++i) sum += probs_[i] = weight(logits[i]);
    double target = Uniform() * sum;
    for (size_t i = 0; i < vocab; ++i) {
      target -= probs_[i];
      if (target < 0.0) return static_cast<int32_t>(i);
    }
    return ArgMax(logits);  // rounding left the target at the very end
  }

  // Candidates best first: the top_k best; with no top_k, the nucleus is found among the best
  // kFirstCandidates, widened while they hold less than top_p of the mass.
  constexpr size_t kFirstCandidates = 256, kWiden = 16;
  const size_t k = params_.top_k > 0
                       ? std::min<size_t>(static_cast<size_t>(params_.top_k), vocab)
                       : vocab;
  double total = 0.0;  // the softmax denominator over the k candidates
  if (k == vocab) {
    for (size_t i = 0; i < vocab; ++i) total += weight(logits[i]);
  }
  size_t selected = k < vocab ? k : std::min(k, kFirstCandidates);
  size_t keep = 0;
  while (keep == 0) {
    SelectBest(logits, selected);
    probs_.resize(selected);
    for (size_t i = 0; i < selected; ++i) probs_[i] = weight(best_[i].logit);
    if (k < vocab) {  // selected == k: the candidates are all here
      for (size_t i = 0; i < selected; ++i) total += probs_[i];
    }
    // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
    double cumulative = 0.0;
    for (size_t i = 0; i < selected && params_.top_p < 1.0f; ++i) {
      cumulative += probs_[i] / total;
      if (cumulative >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
    if (keep == 0 && selected == k) keep = k;
    selected = std::min(k, selected * kWiden);
  }
  double kept_sum = 0.0;
  for (size_t i = 0; i < keep; ++i) kept_sum += probs_[i];
  double target = Uniform() * kept_sum;
  for (size_t i = 0; i < keep; ++i) {
    target -= probs_[i];
    if (target < 0.0) return best_[i].id;
  }
  return best_[keep - 1].id;
}

}  // namespace strata
