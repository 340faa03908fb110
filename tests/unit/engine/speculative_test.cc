// Speculative decoding in one process: greedy output is exactly plain greedy decoding's with
// a draft that is the target itself (every node accepted: a pass yields the tree's depth
// plus one) and with an unrelated draft (few accepted); sampled output keeps the target's
// distribution (a chi-square test on a small vocabulary) and, seed for seed, plain
// sampling's tokens; the caches stay consistent across rounds; bad options are refused.
#include <gtest/gtest.h>

#include <gmock/gmock.h>

#include <cmath>
#include <map>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/speculative.h"
#include "tests/support/random_llama.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

ServingLimits Limits() {
  ServingLimits o;
  o.max_batch_tokens = 64;
  o.max_seq_len = 160;
  o.kv_slots = 1;
  return o;
}

std::unique_ptr<LlamaModel> Model(Backend& backend, const RandomLlama& m,
                                  const ServingLimits& limits = Limits()) {
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::CreateResident(backend, m.config, m.weights, limits);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : nullptr;
}

GenerateOptions Greedy(int32_t max_tokens) {
  GenerateOptions o;
  o.max_tokens = max_tokens;
  return o;
}

class SpeculativeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target_weights_ = MakeRandomLlama(1, RandomLlamaWeights::kBF16);
    other_weights_ = MakeRandomLlama(2, RandomLlamaWeights::kBF16);
    target_ = Model(cpu_, *target_weights_);
    self_draft_ = Model(cpu_, *target_weights_);
    other_draft_ = Model(cpu_, *other_weights_);
    ASSERT_TRUE(target_ && self_draft_ && other_draft_);
  }
  std::vector<int32_t> Prompt(uint32_t seed) const {
    return RandomTokens(9, static_cast<int32_t>(RandomLlamaShape{}.vocab), seed);
  }

  CpuBackend cpu_;
  std::unique_ptr<RandomLlama> target_weights_, other_weights_;
  std::unique_ptr<LlamaModel> target_, self_draft_, other_draft_;
};

TEST_F(SpeculativeTest, ASelfDraftChainIsAcceptedWholeAndTheIdsArePlainGreedys) {
  constexpr int32_t kTokens = 41;
  for (const int32_t depth : {1, 4, 7}) {
    const std::vector<int32_t> prompt = Prompt(10);
    StatusOr<GenerateResult> plain = Generate(*target_, prompt, Greedy(kTokens));
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    SpeculativeOptions spec;
    spec.tree_tokens = depth;
    spec.branch = 1;  // a chain: the draft's greedy continuation
    std::vector<int32_t> streamed;
    StatusOr<SpeculativeResult> r = GenerateSpeculative(
        *target_, *self_draft_, prompt, Greedy(kTokens), spec,
        [&](int32_t id) { streamed.push_back(id); });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->generated.output_ids, plain->output_ids) << "depth " << depth;
    EXPECT_EQ(streamed, plain->output_ids);
    EXPECT_EQ(r->generated.finish_reason, FinishReason::kLength);
    // The first token comes from the prefill; each pass then yields depth + 1 (the last pass
    // what is left).
    const int64_t passes = (kTokens - 1 + depth) / (depth + 1);
    EXPECT_EQ(r->stats.passes, passes) << "depth " << depth;
    EXPECT_EQ(r->stats.accepted, kTokens - 1 - passes);
  }
}

TEST_F(SpeculativeTest, AnUnrelatedDraftIsMostlyRejectedAndTheIdsAreStillPlainGreedys) {
  constexpr int32_t kTokens = 30;
  SpeculativeOptions spec;
  spec.tree_tokens = 24;
  spec.branch = 3;
  spec.expand_batch = 6;
  for (const uint32_t seed : {20u, 21u, 22u}) {
    const std::vector<int32_t> prompt = Prompt(seed);
    StatusOr<GenerateResult> plain = Generate(*target_, prompt, Greedy(kTokens));
    ASSERT_TRUE(plain.ok());
    StatusOr<SpeculativeResult> r =
        GenerateSpeculative(*target_, *other_draft_, prompt, Greedy(kTokens), spec);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->generated.output_ids, plain->output_ids) << "prompt seed " << seed;
    EXPECT_LT(r->stats.accepted, r->stats.passes) << "an unrelated draft is seldom right";
    EXPECT_GT(r->stats.tree_nodes, 0);
  }
}

TEST_F(SpeculativeTest, ABushyTreeFromTheTargetItselfMatchesGreedyAndAcceptsMoreThanOnePerPass) {
  constexpr int32_t kTokens = 33;
  SpeculativeOptions spec;
  spec.tree_tokens = 30;
  spec.branch = 4;
  spec.expand_batch = 5;
  const std::vector<int32_t> prompt = Prompt(30);
  StatusOr<GenerateResult> plain = Generate(*target_, prompt, Greedy(kTokens));
  ASSERT_TRUE(plain.ok());
  StatusOr<SpeculativeResult> r =
      GenerateSpeculative(*target_, *self_draft_, prompt, Greedy(kTokens), spec);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->generated.output_ids, plain->output_ids);
  EXPECT_GT(r->stats.accepted, r->stats.passes);  // the greedy path lies in the tree
  EXPECT_GT(r->stats.draft_passes, r->stats.passes);
}

TEST_F(SpeculativeTest, AnAdaptiveBudgetStaysExactAndStillSpeculatesWithAGoodDraft) {
  constexpr int32_t kTokens = 40;
  SpeculativeOptions spec;
  spec.tree_tokens = 32;
  spec.adaptive = true;
  spec.branch = 2;
  const std::vector<int32_t> prompt = Prompt(35);
  StatusOr<GenerateResult> plain = Generate(*target_, prompt, Greedy(kTokens));
  ASSERT_TRUE(plain.ok());
  for (LlamaModel* draft : {self_draft_.get(), other_draft_.get()}) {
    StatusOr<SpeculativeResult> r =
        GenerateSpeculative(*target_, *draft, prompt, Greedy(kTokens), spec);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->generated.output_ids, plain->output_ids);
    if (draft == self_draft_.get()) {
      EXPECT_LT(r->stats.passes, (kTokens - 1) / 2);
    }
  }
}

TEST_F(SpeculativeTest, AStopIdEndsSpeculationMidTree) {
  const std::vector<int32_t> prompt = Prompt(40);
  StatusOr<GenerateResult> plain = Generate(*target_, prompt, Greedy(20));
  ASSERT_TRUE(plain.ok());
  GenerateOptions options = Greedy(20);
  options.stop_ids = {plain->output_ids[6]};  // the 7th id stops it
  SpeculativeOptions spec;
  spec.tree_tokens = 8;
  spec.branch = 1;
  StatusOr<SpeculativeResult> r =
      GenerateSpeculative(*target_, *self_draft_, prompt, options, spec);
  ASSERT_TRUE(r.ok());
  StatusOr<GenerateResult> plain_stop = Generate(*target_, prompt, options);
  ASSERT_TRUE(plain_stop.ok());
  EXPECT_EQ(r->generated.output_ids, plain_stop->output_ids);
  EXPECT_EQ(r->generated.finish_reason, FinishReason::kStop);
}

TEST_F(SpeculativeTest, SampledTokensAreSeedForSeedPlainSamplings) {
  GenerateOptions options = Greedy(24);
  options.sampling = {0.7f, 0, 0.95f, 0};
  SpeculativeOptions spec;
  spec.tree_tokens = 12;
  spec.branch = 3;
  spec.expand_batch = 4;
  for (const uint64_t seed : {1u, 2u, 3u}) {
    options.sampling.seed = seed;
    const std::vector<int32_t> prompt = Prompt(50 + static_cast<uint32_t>(seed));
    StatusOr<GenerateResult> plain = Generate(*target_, prompt, options);
    ASSERT_TRUE(plain.ok());
    for (LlamaModel* draft : {self_draft_.get(), other_draft_.get()}) {
      StatusOr<SpeculativeResult> r = GenerateSpeculative(*target_, *draft, prompt, options, spec);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->generated.output_ids, plain->output_ids) << "seed " << seed;
    }
  }
}

// The distribution test: on a vocabulary of 8 at a low temperature (peaked distributions),
// the 2nd and 3rd generated tokens — drawn in the tree walk, at the root and at an accepted
// node or after a rejection — follow the target's exact marginals, computed by running the
// target over every prefix.
TEST(SpeculativeSampling, TheTreeWalkKeepsTheTargetsDistribution) {
  constexpr int64_t kVocab = 8;
  constexpr float kTemperature = 0.1f;
  constexpr int kSamples = 3000;
  // A small model so that thousands of generations take seconds.
  const RandomLlamaShape shape{.hidden = 64, .intermediate = 128, .layers = 2, .heads = 4,
                               .kv_heads = 2, .head_dim = 16, .vocab = kVocab};
  CpuBackend cpu;
  const auto target_w = MakeRandomLlama(3, RandomLlamaWeights::kBF16, kDefaultInt4GroupSize, shape);
  const auto draft_w = MakeRandomLlama(4, RandomLlamaWeights::kBF16, kDefaultInt4GroupSize, shape);
  ServingLimits limits = Limits();
  limits.max_seq_len = 32;
  auto target = Model(cpu, *target_w, limits);
  auto draft = Model(cpu, *draft_w, limits);
  ASSERT_TRUE(target && draft);
  const std::vector<int32_t> prompt = {1, 5, 2, 7};

  // The target's next-token distribution after `ids`, at the temperature.
  auto next = [&](std::vector<int32_t> ids) {
    const int32_t slot = *target->kv_cache().Acquire();
    BatchLayout batch;
    batch.Add(slot, 0, ids.data(), static_cast<int32_t>(ids.size()));
    std::vector<float> logits;
    EXPECT_TRUE(target->Forward(batch, LogitsMode::kLastToken, &logits).ok());
    target->kv_cache().Release(slot);
    std::vector<double> p(kVocab);
    double sum = 0;
    for (int64_t i = 0; i < kVocab; ++i) sum += p[i] = std::exp(logits[i] / kTemperature);
    for (double& x : p) x /= sum;
    return p;
  };
  std::vector<double> p2(kVocab, 0.0), p3(kVocab, 0.0);
  const std::vector<double> p1 = next(prompt);
  for (int32_t a = 0; a < kVocab; ++a) {
    std::vector<int32_t> ids = prompt;
    ids.push_back(a);
    const std::vector<double> pa = next(ids);
    for (int32_t b = 0; b < kVocab; ++b) {
      p2[b] += p1[a] * pa[b];
      ids.push_back(b);
      const std::vector<double> pab = next(ids);
      ids.pop_back();
      for (int32_t c = 0; c < kVocab; ++c) p3[c] += p1[a] * pa[b] * pab[c];
    }
  }

  GenerateOptions options;
  options.max_tokens = 3;
  SpeculativeOptions spec;
  spec.tree_tokens = 6;
  spec.branch = 4;  // half the vocabulary: the target's draw is often in the tree
  spec.expand_batch = 2;
  std::vector<int> n2(kVocab, 0), n3(kVocab, 0);
  int64_t accepted = 0;
  for (int i = 0; i < kSamples; ++i) {
    options.sampling = {kTemperature, 0, 1.0f, static_cast<uint64_t>(1000 + i)};
    StatusOr<SpeculativeResult> r = GenerateSpeculative(*target, *draft, prompt, options, spec);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->generated.output_ids.size(), 3u);
    ++n2[static_cast<size_t>(r->generated.output_ids[1])];
    ++n3[static_cast<size_t>(r->generated.output_ids[2])];
    accepted += r->stats.accepted;
  }
  EXPECT_GT(accepted, kSamples / 10) << "the walk went through the tree";
  // Pearson's chi-square over the cells expected at least 5 times (the rest pooled), against
  // the 0.001 critical value for their degrees of freedom (at most 7: 24.32).
  auto chi_square = [&](const std::vector<int>& observed, const std::vector<double>& p) {
    double chi = 0, pooled_o = 0, pooled_e = 0;
    for (int64_t c = 0; c < kVocab; ++c) {
      const double e = p[c] * kSamples;
      if (e < 5) {
        pooled_o += observed[c];
        pooled_e += e;
        continue;
      }
      chi += (observed[c] - e) * (observed[c] - e) / e;
    }
    if (pooled_e > 0) chi += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
    return chi;
  };
  EXPECT_LT(chi_square(n2, p2), 24.32);
  EXPECT_LT(chi_square(n3, p3), 24.32);
}

TEST_F(SpeculativeTest, BadOptionsAndMismatchedDraftsAreRefusedByName) {
  const std::vector<int32_t> prompt = Prompt(60);
  SpeculativeOptions spec;
  spec.branch = 0;
  EXPECT_THAT(GenerateSpeculative(*target_, *self_draft_, prompt, Greedy(4), spec).status().message(),
              HasSubstr("branching"));
  spec = {};
  spec.tree_tokens = kMaxTreeRows + 1;
  EXPECT_THAT(GenerateSpeculative(*target_, *self_draft_, prompt, Greedy(4), spec).status().message(),
              HasSubstr("tree size"));
  spec = {};
  spec.tree_tokens = 64;  // the batches hold 64 tokens: the tree and its root need 65
  EXPECT_THAT(GenerateSpeculative(*target_, *self_draft_, prompt, Greedy(4), spec).status().message(),
              HasSubstr("max_batch_tokens"));
  const auto small =
      MakeRandomLlama(5, RandomLlamaWeights::kBF16, kDefaultInt4GroupSize, {.vocab = 100});
  auto small_model = Model(cpu_, *small);
  const std::vector<int32_t> short_prompt = {1, 2, 3};
  EXPECT_THAT(GenerateSpeculative(*target_, *small_model, short_prompt, Greedy(4), {}).status().message(),
              HasSubstr("vocabulary"));
  // The slots are released whatever happened: a good run still finds them free.
  EXPECT_TRUE(GenerateSpeculative(*target_, *self_draft_, prompt, Greedy(4), {}).ok());
}

}  // namespace
}  // namespace strata::testing
