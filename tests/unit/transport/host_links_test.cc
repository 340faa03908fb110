// The link conformance suite (link_conformance.h) over the host transports, on CPU backends:
// loopback, and UCX over TCP on 127.0.0.1.
#include <cstdlib>

#include "common/transport/loopback/loopback_transport.h"
#include "common/transport/ucx/ucx_transport.h"
#include "tests/unit/transport/link_conformance.h"

namespace strata::transport::testing {
namespace {

// UCX reads UCX_TLS when a context is created: TCP works in every container and network.
const bool kUcxOverTcp = [] { return setenv("UCX_TLS", "tcp", 1) == 0; }();

TransportUnderTest Loopback() {
  TransportUnderTest t;
  t.name = "loopback";
  t.sender_backend = t.receiver_backend = "cpu";
  t.make = [](Backend&, const LinkOptions& options) -> StatusOr<std::unique_ptr<Transport>> {
    return CreateLoopbackTransport(options);
  };
  t.one_transport = true;
  return t;
}

TransportUnderTest Ucx() {
  TransportUnderTest t;
  t.name = "ucx";
  t.sender_backend = t.receiver_backend = "cpu";
  t.make = [](Backend&, const LinkOptions& options) -> StatusOr<std::unique_ptr<Transport>> {
    EXPECT_TRUE(kUcxOverTcp);
    return CreateUcxTransport({"127.0.0.1", 0, "127.0.0.1", "conformance-token"}, options);
  };
  return t;
}

INSTANTIATE_TEST_SUITE_P(HostTransports, LinkConformanceTest, ::testing::Values(Loopback(), Ucx()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace strata::transport::testing
