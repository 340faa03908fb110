// SendBuffers (see send_buffers.h).
#include "worker/send_buffers.h"

namespace strata::worker {

StatusOr<SendBuffers> SendBuffers::Allocate(Backend& backend, ActivationMemory memory,
                                            size_t bytes) {
  SendBuffers b;
  for (DeviceBuffer& buffer : b.buffers_) {
    STRATA_ASSIGN_OR_RETURN(buffer, transport::AllocateLinkBuffer(backend, memory, bytes));
  }
  return b;
}

StatusOr<float*> SendBuffers::Next(transport::ActivationSender& sender) {
  if (tickets_[next_]) {
    STRATA_RETURN_IF_ERROR(sender.WaitSent(*tickets_[next_]));
    tickets_[next_].reset();
  }
  return reinterpret_cast<float*>(buffers_[next_].get());
}

void SendBuffers::Sent(uint64_t ticket) {
  tickets_[next_] = ticket;
  next_ ^= 1;
}

}  // namespace strata::worker
