// Sampler: greedy, seeds, top-k/top-p limits, and that sampling follows the distribution;
// LogprobsOf against a plain log-softmax and sort, its top list's order and ties, and stability.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <utility>

#include <gtest/gtest.h>

#include "common/engine/sampler.h"

namespace strata {
namespace {

std::vector<float> SomeLogits() { return {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.5f}; }

TEST(Sampler, GreedyTakesFirstMaximum) {
  Sampler s(SamplingParams{});
  EXPECT_EQ(s.Sample(SomeLogits()), 1);  // ids 1 and 4 tie: the lower wins, as torch.argmax
}

TEST(Sampler, ArgMaxIsMaxElementsAnswerForEveryLengthTiesAndNan) {
  std::mt19937 rng(9);
  std::uniform_int_distribution<int> level(0, 20);  // few distinct values: many ties
  for (size_t n : {1u, 2u, 7u, 8u, 9u, 17u, 1000u, 128256u}) {
    std::vector<float> v(n);
    for (float& x : v) x = static_cast<float>(level(rng));
    EXPECT_EQ(ArgMax(v), std::max_element(v.begin(), v.end()) - v.begin()) << n;
  }
  std::vector<float> nan_first = {std::nanf(""), 3.0f, 5.0f};
  EXPECT_EQ(ArgMax(nan_first), 0);
  std::vector<float> nan_inside = {1.0f, std::nanf(""), 5.0f, 5.0f};
  EXPECT_EQ(ArgMax(nan_inside), 2);
}

TEST(Sampler, SameSeedSameTokensOtherSeedOtherTokens) {
  SamplingParams p{1.0f, 0, 1.0f, 42};
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 0.37));
  auto draw = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> ids;
    for (int i = 0; i < 50; ++i) ids.push_back(s.Sample(logits));
    return ids;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  Sampler k1(SamplingParams{5.0f, 1, 1.0f, 7});
  Sampler p0(SamplingParams{5.0f, 0, 1e-6f, 7});
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(k1.Sample(SomeLogits()), 1);
    EXPECT_EQ(p0.Sample(SomeLogits()), 1);
  }
}

TEST(Sampler, TopKLimitsCandidates) {
  Sampler s(SamplingParams{100.0f, 3, 1.0f, 1});  // nearly uniform over the top 3
  std::map<int32_t, int> seen;
  for (int i = 0; i < 3000; ++i) ++seen[s.Sample(SomeLogits())];
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_TRUE(seen.count(1) && seen.count(4) && seen.count(2));
}

TEST(Sampler, TopPKeepsSmallestPrefixReachingMass) {
  // probs (T=1): ids 0..3 with logits log(0.5), log(0.3), log(0.15), log(0.05)
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                     std::log(0.05f)};
  Sampler s(SamplingParams{1.0f, 0, 0.75f, 3});
  std::map<int32_t, int> seen;
  for (int i = 0; i < 4000; ++i) ++seen[s.Sample(logits)];
  EXPECT_EQ(seen.size(), 2u);  // 0.5 + 0.3 reaches 0.75; 0.5 alone does not
  EXPECT_NEAR(seen[0] / 4000.0, 0.5 / 0.8, 0.03);
}

TEST(Sampler, NucleusBeyondTheFirstCandidatesOnALargeVocabulary) {
  // 50000 equal logits: the order is by id, so top_p 0.5 keeps ids [0, 25000) — far more
  // than the first candidates sorted; with top_k 1000 it keeps [0, 500).
  const std::vector<float> flat(50000, 1.0f);
  for (const auto& [top_k, bound] : {std::pair{0, 25000}, std::pair{1000, 500}}) {
    Sampler s(SamplingParams{1.0f, top_k, 0.5f, 5});
    int lowest = 1 << 30, highest = -1;
    for (int i = 0; i < 300; ++i) {
      const int32_t id = s.Sample(flat);
      lowest = std::min(lowest, id);
      highest = std::max(highest, id);
    }
    EXPECT_LT(highest, bound) << "top_k " << top_k;
    EXPECT_GT(highest, bound * 9 / 10) << "top_k " << top_k;  // spread over the whole nucleus
    EXPECT_LT(lowest, bound / 10) << "top_k " << top_k;
  }
}

TEST(Sampler, FrequenciesFollowTemperatureSoftmax) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  const float t = 2.0f;
  Sampler s(SamplingParams{t, 0, 1.0f, 11});
  std::vector<int> count(3);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[static_cast<size_t>(s.Sample(logits))];
  double z = 0;
  for (float l : logits) z += std::exp(l / t);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(count[i] / double(n), std::exp(logits[i] / t) / z, 0.015) << "id " << i;
  }
}

TEST(Sampler, ValidationNamesTheField) {
  EXPECT_NE(ValidateSamplingParams({-1.0f, 0, 1.0f, 0}).message().find("temperature"),
            std::string::npos);
  EXPECT_NE(ValidateSamplingParams({NAN, 0, 1.0f, 0}).message().find("temperature"),
            std::string::npos);
  EXPECT_NE(ValidateSamplingParams({1.0f, -2, 1.0f, 0}).message().find("top_k"), std::string::npos);
  EXPECT_NE(ValidateSamplingParams({1.0f, 0, 0.0f, 0}).message().find("top_p"), std::string::npos);
  EXPECT_NE(ValidateSamplingParams({1.0f, 0, 1.5f, 0}).message().find("top_p"), std::string::npos);
  EXPECT_TRUE(ValidateSamplingParams({0.7f, 40, 0.9f, 0}).ok());
}

// Logits of N(0, 3), as a model's are roughly: many distinct values, a few large ones.
std::vector<float> RandomLogits(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// The straightforward reference: log-softmax in long double, every id.
std::vector<double> LogSoftmax(const std::vector<float>& logits) {
  long double z = 0;
  for (float l : logits) z += std::exp(static_cast<long double>(l));
  std::vector<double> out;
  const long double log_z = std::log(z);
  for (float l : logits) out.push_back(static_cast<double>(static_cast<long double>(l) - log_z));
  return out;
}

// Every id, most likely first, lower id among equals: a whole sort.
std::vector<int32_t> ByLikelihood(const std::vector<float>& logits) {
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
  });
  return ids;
}

TEST(Logprobs, MatchAPlainLogSoftmaxAndSortOnRandomLogits) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<float> logits = RandomLogits(1000, seed);
    const std::vector<double> want = LogSoftmax(logits);
    const std::vector<int32_t> order = ByLikelihood(logits);
    const int32_t argmax = order[0];
    ASSERT_EQ(argmax, ArgMax(logits));
    // The argmax, the tenth most likely, the least likely and a few others.
    for (int32_t token : {argmax, order[9], order[999], 0, 517, 999}) {
      for (int32_t top_n : {0, 1, 5, 20}) {
        const TokenLogprobs got = LogprobsOf(logits, token, top_n);
        EXPECT_NEAR(got.logprob, want[static_cast<size_t>(token)], 1e-5)
            << "seed " << seed << " token " << token;
        ASSERT_EQ(got.top.size(), static_cast<size_t>(top_n));
        for (size_t i = 0; i < got.top.size(); ++i) {
          EXPECT_EQ(got.top[i].id, order[i]) << "seed " << seed << " rank " << i;
          EXPECT_NEAR(got.top[i].logprob, want[static_cast<size_t>(order[i])], 1e-5);
        }
      }
    }
    // Not the argmax: less likely than the first of the list, which is the argmax's own value.
    const TokenLogprobs tenth = LogprobsOf(logits, order[9], 3);
    const TokenLogprobs first = LogprobsOf(logits, argmax, 3);
    EXPECT_LT(tenth.logprob, tenth.top[0].logprob);
    EXPECT_EQ(first.logprob, first.top[0].logprob);
    EXPECT_EQ(tenth.top[0].logprob, first.top[0].logprob);
  }
}

TEST(Logprobs, ExponentialsOverTheWholeVocabularySumToOne) {
  const std::vector<float> logits = RandomLogits(1000, 7);
  // A top_n past the vocabulary lists all of it.
  const TokenLogprobs all = LogprobsOf(logits, 0, 5000);
  ASSERT_EQ(all.top.size(), logits.size());
  double sum = 0.0;
  std::vector<bool> seen(logits.size());
  for (const TokenLogprob& t : all.top) {
    sum += std::exp(static_cast<double>(t.logprob));
    seen[static_cast<size_t>(t.id)] = true;
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 1000);
  for (size_t i = 1; i < all.top.size(); ++i) EXPECT_GE(all.top[i - 1].logprob, all.top[i].logprob);
}

TEST(Logprobs, TiesListTheLowerIdFirst) {
  const std::vector<float> logits = {2.0f, 5.0f, 1.0f, 5.0f, 3.0f, 5.0f, 3.0f};
  const TokenLogprobs got = LogprobsOf(logits, 5, 5);
  std::vector<int32_t> ids;
  for (const TokenLogprob& t : got.top) ids.push_back(t.id);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 3, 5, 4, 6}));
  EXPECT_EQ(got.top[0].logprob, got.top[1].logprob);
  EXPECT_EQ(got.top[1].logprob, got.top[2].logprob);
  EXPECT_EQ(got.logprob, got.top[0].logprob);
  // Ties cut by the list's end: the lower ids stay.
  const TokenLogprobs two = LogprobsOf(logits, 5, 2);
  ASSERT_EQ(two.top.size(), 2u);
  EXPECT_EQ(two.top[0].id, 1);
  EXPECT_EQ(two.top[1].id, 3);
  // Equal logits everywhere: log(1/n) for each, ids in order.
  const TokenLogprobs flat = LogprobsOf(std::vector<float>(8, 0.25f), 6, 3);
  EXPECT_NEAR(flat.logprob, -std::log(8.0), 1e-6);
  ASSERT_EQ(flat.top.size(), 3u);
  EXPECT_EQ(flat.top[2].id, 2);
}

TEST(Logprobs, TopZeroListsNothing) {
  const std::vector<float> logits = RandomLogits(1000, 11);
  const TokenLogprobs got = LogprobsOf(logits, 42, 0);
  EXPECT_TRUE(got.top.empty());
  EXPECT_NEAR(got.logprob, LogSoftmax(logits)[42], 1e-5);
}

TEST(Logprobs, StableForLogitsFarFromZero) {
  // exp(1e4) overflows any float; shifting every logit changes no log-probability. Logits on
  // a grid of 1/256 keep the shift exact in float (|l| < 2^14 leaves 10 fraction bits).
  std::vector<float> logits = RandomLogits(1000, 13);
  for (float& l : logits) l = std::round(l * 256.0f) / 256.0f;
  const TokenLogprobs base = LogprobsOf(logits, 3, 4);
  for (float shift : {1e4f, -1e4f}) {
    std::vector<float> shifted = logits;
    for (float& l : shifted) l += shift;
    const TokenLogprobs got = LogprobsOf(shifted, 3, 4);
    ASSERT_TRUE(std::isfinite(got.logprob)) << shift;
    EXPECT_NEAR(got.logprob, base.logprob, 1e-6) << shift;
    ASSERT_EQ(got.top.size(), 4u);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(got.top[i].id, base.top[i].id) << shift;
      EXPECT_NEAR(got.top[i].logprob, base.top[i].logprob, 1e-6) << shift;
    }
  }
  // A near-certain token: its log-probability is a tiny negative number, not 0 or NaN.
  const TokenLogprobs sure = LogprobsOf(std::vector<float>{0.0f, 30.0f, 0.0f}, 1, 1);
  EXPECT_LT(sure.logprob, 0.0f);
  EXPECT_NEAR(sure.logprob, -2.0 * std::exp(-30.0), 1e-15);
}

}  // namespace
}  // namespace strata
