// SendBuffers: a stage's output link's two send buffers, allocated once when the stage is
// made, in the memory its transport carries (transport::AllocateLinkBuffer: pinned host
// memory for a host transport, device memory for a device one), each (max_rows, hidden)
// activations.
// Thread-safety: used by the compute thread alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/backend/backend.h"
#include "common/transport/transport.h"

namespace strata::worker {

// An output link's two send buffers, used in turn: one can be on the wire while the next step
// writes the other. A buffer is handed out again only after the message that read it left.
class SendBuffers {
 public:
  static StatusOr<SendBuffers> Allocate(Backend& backend, ActivationMemory memory, size_t bytes);

  // The buffer for the next output, once the message last sent from it has left `sender`.
  StatusOr<float*> Next(transport::ActivationSender& sender);
  // The buffer Next handed out is read by message `ticket`; the other one is next.
  void Sent(uint64_t ticket);

 private:
  DeviceBuffer buffers_[2];             // (max_rows, hidden) each
  std::optional<uint64_t> tickets_[2];  // the message reading each buffer, if any
  int next_ = 0;
};

}  // namespace strata::worker
