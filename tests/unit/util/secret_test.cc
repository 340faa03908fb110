// SecretsEqual and RandomSecret (common/util/secret.h).
#include <gtest/gtest.h>

#include "common/util/secret.h"

namespace strata {
namespace {

TEST(SecretsEqual, EqualOnlyWhenEqual) {
  EXPECT_TRUE(SecretsEqual("token", "token"));
  EXPECT_TRUE(SecretsEqual("", ""));
  EXPECT_FALSE(SecretsEqual("token", "tokem"));
  EXPECT_FALSE(SecretsEqual("toke", "token"));
  EXPECT_FALSE(SecretsEqual("tokentoken", "token"));  // a repetition of the secret
  EXPECT_FALSE(SecretsEqual("", "token"));
  EXPECT_FALSE(SecretsEqual("token", ""));
}

TEST(RandomSecret, SixtyFourHexDigitsEachTimeNew) {
  const std::string a = RandomSecret(), b = RandomSecret();
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace strata
