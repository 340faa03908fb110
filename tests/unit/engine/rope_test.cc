// RoPE inverse frequencies, with and without llama3 scaling, against values worked out from
// the formula by hand.
#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "common/engine/rope.h"

namespace strata {
namespace {

ModelConfig Config(int64_t head_dim, double theta) {
  ModelConfig c;
  c.head_dim = head_dim;
  c.rope_theta = theta;
  return c;
}

TEST(RopeInvFreq, PlainIsThetaPowers) {
  const std::vector<float> f = RopeInvFreq(Config(8, 10000.0));
  ASSERT_EQ(f.size(), 4u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], 0.1f);    // 10000^(-2/8)
  EXPECT_FLOAT_EQ(f[2], 0.01f);
  EXPECT_FLOAT_EQ(f[3], 0.001f);
}

TEST(RopeInvFreq, Llama3ScalesLowKeepsHighInterpolatesMiddle) {
  ModelConfig c = Config(128, 500000.0);
  c.rope_scaling = {RopeScaling::Type::kLlama3, 8.0, 1.0, 4.0, 8192};
  const std::vector<float> plain = RopeInvFreq(Config(128, 500000.0));
  const std::vector<float> scaled = RopeInvFreq(c);
  int high = 0, low = 0, mid = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    const double wavelen = 2 * std::numbers::pi / plain[i];
    if (wavelen < 8192.0 / 4.0) {  // high frequency: unchanged
      EXPECT_FLOAT_EQ(scaled[i], plain[i]);
      ++high;
    } else if (wavelen > 8192.0) {  // low frequency: divided by the factor
      EXPECT_FLOAT_EQ(scaled[i], plain[i] / 8.0f);
      ++low;
    } else {  // between: a blend of the two
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      EXPECT_NEAR(scaled[i], (1 - smooth) * plain[i] / 8.0 + smooth * plain[i], 1e-6 * plain[i]);
      ++mid;
    }
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(mid, 0);
}

}  // namespace
}  // namespace strata
