// Address parsing and resolution with getaddrinfo.
#include "common/transport/ucx/socket_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace strata::transport {

uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

std::string SocketAddress::ToString() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host,
              sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(port());
  }
  if (storage.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(port());
  }
  return "unknown address";
}

StatusOr<SocketAddress> ResolveAddress(std::string_view host_port) {
  const std::string what = "address '" + std::string(host_port) + "'";
  const size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgument(what + " is not host:port");
  }
  std::string_view host = host_port.substr(0, colon);
  const std::string_view port_text = host_port.substr(colon + 1);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(),
                                         port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535 ||
      host.empty()) {
    return InvalidArgument(what + " is not host:port with a port in [0, 65535]");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string host_str(host);
  const std::string port_str = std::to_string(port);
  const int rc = getaddrinfo(host_str.c_str(), port_str.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return InvalidArgument(what + ": cannot resolve '" + host_str + "': " + gai_strerror(rc));
  }
  SocketAddress out;
  std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
  out.length = found->ai_addrlen;
  freeaddrinfo(found);
  return out;
}

std::optional<std::string> InterfaceHolding(const SocketAddress& addr) {
  const int family = addr.storage.ss_family;
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr.storage);
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr.storage);
  // 127/8 is the loopback interface's whole, though it lists 127.0.0.1 alone.
  const bool v4_loopback = family == AF_INET && (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<std::string> found;
  for (const ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != family) continue;
    if (family == AF_INET) {
      const in_addr& a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
      if (v4_loopback ? (i->ifa_flags & IFF_LOOPBACK) != 0
                      : a.s_addr == v4->sin_addr.s_addr && a.s_addr != htonl(INADDR_ANY)) {
        found = i->ifa_name;
      }
    } else {
      const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr;
      if (std::memcmp(&a, &v6->sin6_addr, sizeof a) == 0 && !IN6_IS_ADDR_UNSPECIFIED(&a)) {
        found = i->ifa_name;
      }
    }
  }
  freeifaddrs(list);
  return found;
}

}  // namespace strata::transport
