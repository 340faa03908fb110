// EncodeHello and CheckHello (see link_hello.h).
#include "common/transport/link_hello.h"

#include <string>

#include "common/util/secret.h"

namespace strata::transport {
namespace {

void PutLe(std::vector<std::byte>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(std::span<const std::byte> in, size_t offset, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(in[offset + static_cast<size_t>(i)]) << (8 * i);
  }
  return v;
}

}  // namespace

StatusOr<std::vector<std::byte>> EncodeHello(std::string_view token) {
  if (token.size() > kMaxHelloTokenBytes) {
    return InvalidArgument("the cluster token is " + std::to_string(token.size()) +
                           " bytes; the data plane carries at most " +
                           std::to_string(kMaxHelloTokenBytes) + ": use a shorter one");
  }
  std::vector<std::byte> out;
  out.reserve(kHelloFixedBytes + token.size());
  PutLe(out, kHelloMagic, 4);
  PutLe(out, kHelloVersion, 2);
  PutLe(out, token.size(), 2);
  for (const char c : token) out.push_back(static_cast<std::byte>(c));
  return out;
}

Status CheckHello(std::span<const std::byte> hello, std::string_view token) {
  if (hello.size() < kHelloFixedBytes || GetLe(hello, 0, 4) != kHelloMagic) {
    return InvalidArgument("it sent no Strata link hello (" + std::to_string(hello.size()) +
                           " bytes that are not one)");
  }
  const uint64_t version = GetLe(hello, 4, 2);
  if (version != kHelloVersion) {
    return InvalidArgument("its link hello is version " + std::to_string(version) +
                           ", this worker speaks " + std::to_string(kHelloVersion) +
                           ": run the same Strata release on every worker");
  }
  const uint64_t n = GetLe(hello, 6, 2);
  if (n != hello.size() - kHelloFixedBytes) {
    return InvalidArgument("its link hello says " + std::to_string(n) + " token bytes but carries " +
                           std::to_string(hello.size() - kHelloFixedBytes));
  }
  if (n == 0) {
    return FailedPrecondition("it presented no cluster token: give every worker the "
                              "coordinator's --token-file");
  }
  const std::string_view presented(reinterpret_cast<const char*>(hello.data()) + kHelloFixedBytes,
                                   n);
  if (!SecretsEqual(presented, token)) {
    return FailedPrecondition("it presented a wrong cluster token: give every worker the "
                              "coordinator's --token-file");
  }
  return OkStatus();
}

}  // namespace strata::transport
