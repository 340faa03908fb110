// Both ends of one link made in this process — for benchmarks, tests and single-process
// pipelines: the receiving transport listens, and the sending one connects while the
// receiver opens on another thread (the ends of an NCCL link join together).
// Thread-safety: one call at a time per pair of transports (transport.h).
#pragma once

#include <memory>
#include <span>

#include "common/transport/transport.h"

namespace strata::transport {

struct LocalLink {
  std::unique_ptr<ActivationSender> sender;
  std::unique_ptr<ActivationReceiver> receiver;
};

// `sending` and `receiving` may be the same transport (a host one) or two (one per GPU);
// `buffer` (limits.max_payload_bytes() of the receiving transport's memory) must outlive the
// receiver.
StatusOr<LocalLink> ConnectLocalLink(Transport& sending, Transport& receiving,
                                     const LinkLimits& limits, std::span<std::byte> buffer);

}  // namespace strata::transport
