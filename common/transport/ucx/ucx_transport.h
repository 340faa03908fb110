// Activation links over UCX (tag API, host memory). The receiving stage listens on an
// address and reports host:port over the control plane; the sending stage connects to it.
// Each message is two tagged sends on the link's own UCX worker: the encoded header (tag
// 2*ticket) and the payload (tag 2*ticket+1); the receiver posts both receives at once, the
// payload straight into its buffer, so large payloads (rendezvous) land without a copy.
// UCX reads its transports from the environment: UCX_TLS=tcp works everywhere (loopback,
// network namespaces, nodes), and UCX_NET_DEVICES picks the interface.
// Peer loss (closed connection, process gone) fails the link through UCX's peer error
// handling; a silent loss is bounded by every call's timeout and by TCP keepalive.
// Thread-safety: as transport.h; each link runs one UCX progress thread of its own.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/transport/transport.h"

namespace strata::transport {

struct UcxListening {
  std::unique_ptr<ActivationReceiver> receiver;
  uint16_t port = 0;  // the bound port (the one asked for, or the one picked for port 0)
};

// Listens on `bind_address` ("host:port"; port 0 picks a free port, "0.0.0.0:P" every
// interface) and accepts one sender; later connection requests are rejected.
// `receive_buffer` (limits.max_payload_bytes()) must outlive the receiver.
StatusOr<UcxListening> ListenUcx(std::string_view bind_address, const LinkLimits& limits,
                                 const LinkOptions& options, std::span<std::byte> receive_buffer);

// Connects to a receiver's "host:port" and waits (up to options.timeout) until the
// connection is established; kUnavailable when it cannot be.
StatusOr<std::unique_ptr<ActivationSender>> ConnectUcx(std::string_view address,
                                                       const LinkLimits& limits,
                                                       const LinkOptions& options);

}  // namespace strata::transport
