// The data plane's hello (link_hello.h): the right token passes; no token, a wrong one, a
// truncated or foreign frame and another version are refused with messages that hold neither
// token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/transport/link_hello.h"

namespace strata::transport {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "the-cluster-token";

TEST(LinkHello, TheRightTokenPasses) {
  StatusOr<std::vector<std::byte>> hello = EncodeHello(kToken);
  ASSERT_TRUE(hello.ok());
  EXPECT_EQ(hello->size(), kHelloFixedBytes + sizeof kToken - 1);
  EXPECT_TRUE(CheckHello(*hello, kToken).ok());
}

TEST(LinkHello, NoOrAWrongTokenIsRefusedWithoutShowingEither) {
  for (const std::string presented : {"", "the-cluster-tokeX", "the-cluster-token-longer", "short"}) {
    StatusOr<std::vector<std::byte>> hello = EncodeHello(presented);
    ASSERT_TRUE(hello.ok());
    const Status st = CheckHello(*hello, kToken);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << presented;
    EXPECT_THAT(st.message(), HasSubstr(presented.empty() ? "no cluster token" : "wrong cluster token"));
    EXPECT_THAT(st.message(), Not(HasSubstr(kToken)));
    if (!presented.empty()) {
      EXPECT_THAT(st.message(), Not(HasSubstr(presented)));
    }
  }
}

TEST(LinkHello, MalformedHellosAreRefused) {
  std::vector<std::byte> hello = EncodeHello(kToken).value();
  EXPECT_EQ(CheckHello(std::span(hello).first(5), kToken).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckHello(std::span(hello).first(hello.size() - 1), kToken).code(),
            StatusCode::kInvalidArgument);  // the length says more than arrived
  std::vector<std::byte> foreign = hello;
  foreign[0] = std::byte{'X'};
  EXPECT_THAT(CheckHello(foreign, kToken).message(), HasSubstr("no Strata link hello"));
  std::vector<std::byte> later = hello;
  later[4] = std::byte{2};
  EXPECT_THAT(CheckHello(later, kToken).message(), HasSubstr("version 2"));
}

TEST(LinkHello, ATokenLongerThanTheHelloCarriesIsAnError) {
  EXPECT_EQ(EncodeHello(std::string(kMaxHelloTokenBytes + 1, 'a')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(EncodeHello(std::string(kMaxHelloTokenBytes, 'a')).ok());
}

}  // namespace
}  // namespace strata::transport
