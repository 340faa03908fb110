// Token sampling from logits: greedy, or temperature then top-k then top-p (the order
// Hugging Face applies them), from a seeded generator so the same seed gives the same tokens.
// Thread-safety: one Sampler per sequence.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "common/util/status.h"

namespace strata {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  int32_t top_k = 0;         // 0: no limit
  float top_p = 1.0f;        // 1: no limit
  uint64_t seed = 0;
};

// kInvalidArgument naming the field: temperature negative or not finite, top_k negative,
// top_p outside (0, 1].
Status ValidateSamplingParams(const SamplingParams& params);

// Index of the largest logit; the lowest index among equals (as torch.argmax).
int32_t ArgMax(std::span<const float> logits);

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
