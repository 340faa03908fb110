// Activation links over UCX (tag API, host memory). The receiving stage listens on an
// address and reports host:port over the control plane; the sending stage connects to it.
// Each message is two tagged sends on the link's own UCX worker: the encoded header (tag
// 2*ticket) and the payload (tag 2*ticket+1); the receiver posts both receives at once, the
// payload straight into its buffer, so large payloads (rendezvous) land without a copy.
// UCX reads its transports from the environment: UCX_TLS=tcp works everywhere (loopback,
// network namespaces, nodes), and UCX_NET_DEVICES picks the interface. Unless UCX_NET_DEVICES
// is set, a link's network devices are those of UcxNetDevices: the interface that holds the
// worker's data address and the RDMA ports, never the host's other interfaces (UCX would
// otherwise open TCP lanes on every interface and may carry a link over a bridge, VPN or
// container network: one that vanishes stalls the link with no error, its messages lost).
// Handshake (link_hello.h): the sender's first message is its hello (tag kHelloTag) with the
// cluster token; the receiver answers one byte (tag kAcceptTag) once the token is its own, and
// only then does Connect return and does the receiver deliver messages. A sender with no or a
// wrong token, or none within the link timeout, is refused: logged on the receiving side (an
// error naming its address and what it did wrong, never a token) and disconnected, and the
// link waits for the next sender (up to kMaxWaitingSenders wait their turn while one is
// checked). Messages a refused sender left behind are discarded, never delivered.
// Peer loss (closed connection, process gone) fails the link through UCX's peer error
// handling; a silent loss is bounded by every call's timeout and by TCP keepalive.
// Progress: a Send, WaitSent or Receive that waits progresses its link's UCX worker itself
// (spinning briefly, then sleeping on the worker's event fd: ucx_worker.h); each link also runs
// a progress thread of its own for what nobody waits for.
// Thread-safety: as transport.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/transport/transport.h"

namespace strata::transport {

struct UcxSettings {
  std::string bind_host;        // where receivers listen ("0.0.0.0": every interface)
  uint16_t port = 0;            // 0: a free port per link
  std::string advertised_host;  // the host part of a receiver's address
  std::string token;            // the cluster token: presented by senders, required by receivers
                                // (empty: a receiver accepts no sender)
};

// The network devices (UCX_NET_DEVICES syntax) links of `settings` use: "" (UCX_NET_DEVICES,
// or every device, as UCX chooses) when UCX_NET_DEVICES is set or no local interface holds
// the data address (bind_host, or advertised_host when it binds every interface); else that
// interface and every RDMA port (/sys/class/infiniband/DEV/ports/N as DEV:N), e.g. "lo" for
// 127.0.0.1, "eth0,mlx5_0:1" on a node with RDMA.
std::string UcxNetDevices(const UcxSettings& settings);

// Listen binds bind_host:port and accepts one sender that presents `token` (later connection
// requests are rejected); the address is "advertised_host:<bound port>". Connect takes a
// receiver's "host:port" and waits (up to the link timeout) until the receiver has accepted
// this sender's token.
std::unique_ptr<Transport> CreateUcxTransport(const UcxSettings& settings,
                                              const LinkOptions& options);

}  // namespace strata::transport
