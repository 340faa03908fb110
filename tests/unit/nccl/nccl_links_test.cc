// NCCL links: the unique id's text form, and the link conformance suite
// (tests/unit/transport/link_conformance.h) between two GPUs of this process, one CUDA
// backend each — NCCL refuses two ranks of one communicator on one GPU, so the suite skips
// itself where cuda:1 does not answer.
#include <cstring>

#include <gtest/gtest.h>

#include "common/transport/nccl/nccl_comm.h"
#include "common/transport/nccl/nccl_transport.h"
#include "tests/unit/transport/link_conformance.h"

namespace strata::transport {
namespace {

TEST(NcclId, HexRoundTrips) {
  ncclUniqueId id;
  for (size_t i = 0; i < sizeof id.internal; ++i) id.internal[i] = static_cast<char>(i * 37);
  const std::string hex = NcclUniqueIdToHex(id);
  EXPECT_EQ(hex.size(), 2u * NCCL_UNIQUE_ID_BYTES);
  StatusOr<ncclUniqueId> back = NcclUniqueIdFromHex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::memcmp(back->internal, id.internal, sizeof id.internal), 0);
  EXPECT_FALSE(NcclUniqueIdFromHex(hex.substr(1)).ok());
  EXPECT_FALSE(NcclUniqueIdFromHex(std::string(hex.size(), 'z')).ok());
}

}  // namespace

namespace testing {
namespace {

TransportUnderTest Nccl() {
  TransportUnderTest t;
  t.name = "nccl";
  t.sender_backend = "cuda:0";
  t.receiver_backend = "cuda:1";
  t.make = [](Backend& backend, const LinkOptions& options) {
    return CreateNcclTransport(backend, options);
  };
  t.skips_malformed_messages = false;
  t.reports_peer_loss = false;
  return t;
}

INSTANTIATE_TEST_SUITE_P(GpuTransports, LinkConformanceTest, ::testing::Values(Nccl()),
                         [](const auto& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace testing
}  // namespace strata::transport
