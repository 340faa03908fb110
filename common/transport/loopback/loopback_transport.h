// An in-process transport: Listen registers a link in this Transport under "loopback:<n>",
// Connect takes it. The sender queues (header, payload pointer) in a ring of max_in_flight
// slots, and the receiver copies the payload into its buffer, which completes the send. Host
// memory. Same contract as the network transports, for tests and single-process pipelines.
// Thread-safety: as transport.h; the two halves of a link may live on different threads and
// may be destroyed in either order.
#pragma once

#include <memory>

#include "common/transport/transport.h"

namespace strata::transport {

std::unique_ptr<Transport> CreateLoopbackTransport(const LinkOptions& options);

}  // namespace strata::transport
