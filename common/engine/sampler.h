// Token sampling from logits: greedy, or temperature then top-k then top-p (the order
// Hugging Face applies them), from a seeded generator so the same seed gives the same tokens;
// and the log-probabilities a sampled token reports (LogprobsOf).
// Thread-safety: one Sampler per sequence; LogprobsOf is a pure function.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "common/serving/sampling_params.h"
#include "common/util/status.h"

namespace strata {

// Index of the largest logit; the lowest index among equals (as torch.argmax).
int32_t ArgMax(std::span<const float> logits);

// A token's log-probability under the model's own distribution: the log-softmax of the raw
// logits over the whole vocabulary (before temperature, top-k or top-p, as OpenAI and vLLM
// report it), and the `top_n` most likely ids with theirs.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};
struct TokenLogprobs {
  float logprob = 0.0f;           // the token's
  std::vector<TokenLogprob> top;  // (min(top_n, vocab)) most likely first, lower id among equals
};

// `token` in [0, logits.size()); top_n >= 0 (more than the vocabulary lists it all). One pass
// for the maximum, one for the log-sum-exp (max-subtracted, float exponentials summed in
// double) and one bounded heap of top_n for the list: O(vocab), no sort of the vocabulary,
// and no allocation but the returned list.
TokenLogprobs LogprobsOf(std::span<const float> logits, int32_t token, int32_t top_n);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t Sample(std::span<const float> logits);

 private:
  double Uniform();  // [0, 1) from the 53 high bits of the generator

  SamplingParams params_;
  std::mt19937_64 rng_;
  // best_ = the k best (logit, id) of `logits`, best first.
  void SelectBest(std::span<const float> logits, size_t k);

  struct Candidate {
    float logit;
    int32_t id;
  };
  // Best first: the larger logit, the lower id among equals.
  static bool Better(const Candidate& a, const Candidate& b);
  std::vector<Candidate> best_;  // (up to vocab) candidates, best first
  std::vector<double> probs_;    // (up to vocab) their probabilities, same order
};

}  // namespace strata
