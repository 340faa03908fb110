// "host:port" strings (as exchanged over the control plane) to socket addresses and back.
// Hosts may be names, IPv4 literals or bracketed IPv6 literals ("[::1]:7000").
// Thread-safety: pure functions (getaddrinfo is thread-safe).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace strata::transport {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
  // "1.2.3.4:80" or "[::1]:80" (for messages); "unknown address" for another family.
  std::string ToString() const;
};

// kInvalidArgument for a malformed string or a host that does not resolve.
StatusOr<SocketAddress> ResolveAddress(std::string_view host_port);

// The local network interface that holds `addr`'s IP (the loopback interface, "lo", for any
// 127.x.y.z); nullopt for a wildcard or an address no interface here holds (another host's,
// one behind NAT). The port is ignored.
std::optional<std::string> InterfaceHolding(const SocketAddress& addr);

}  // namespace strata::transport
