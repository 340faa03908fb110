// An in-process link: the sender queues (header, payload pointer) in a ring of
// max_in_flight slots, and the receiver copies the payload into its buffer, which completes
// the send. Same contract as the network transports, for tests and single-process pipelines.
// Thread-safety: as transport.h; the two halves may live on different threads and may be
// destroyed in either order.
#pragma once

#include <memory>
#include <span>

#include "common/transport/transport.h"

namespace strata::transport {

struct LoopbackLink {
  std::unique_ptr<ActivationSender> sender;
  std::unique_ptr<ActivationReceiver> receiver;
};

// `receive_buffer` (limits.max_payload_bytes()) must outlive the receiver.
StatusOr<LoopbackLink> CreateLoopbackLink(const LinkLimits& limits, const LinkOptions& options,
                                          std::span<std::byte> receive_buffer);

}  // namespace strata::transport
