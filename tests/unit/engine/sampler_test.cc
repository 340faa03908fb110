// Sampler: greedy, seeds, top-k/top-p limits, and that sampling follows the distribution.
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

}  // namespace
}  // namespace strata
