// NcclSender (see nccl_sender.h).
#include "common/transport/nccl/nccl_sender.h"

#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include "common/backend/device_check.h"

namespace strata::transport {

using Clock = std::chrono::steady_clock;
using std::to_string;

StatusOr<std::unique_ptr<NcclSender>> NcclSender::Connect(Backend& backend,
                                                         std::string_view id_hex,
                                                         const LinkLimits& limits,
                                                         const LinkOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidateLimits(limits));
  STRATA_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<NcclSender> s(new NcclSender(backend, limits, options));
  s->slots_.resize(static_cast<size_t>(options.max_in_flight));
  for (Slot& slot : s->slots_) {
    STRATA_ASSIGN_OR_RETURN(slot.host_header, backend.AllocatePinned(limits.max_header_bytes()));
    STRATA_ASSIGN_OR_RETURN(slot.device_header, backend.Allocate(limits.max_header_bytes()));
    slot.written = backend.CreateEvent();
    slot.done = backend.CreateEvent();
  }
  STRATA_ASSIGN_OR_RETURN(s->device_text_, backend.Allocate(kMaxErrorTextBytes));
  s->stream_ = backend.CreateStream();
  STRATA_ASSIGN_OR_RETURN(s->comm_, NcclComm::Join(backend, id_hex, 0, *s->stream_,
                                                   s->slots_[0].device_header.get(),
                                                   options.timeout));
  return s;
}

NcclSender::~NcclSender() {
  for (Slot& slot : slots_) {
    // A send the peer never matches would block forever: past the timeout the communicator
    // is aborted, which ends it, before the buffers are freed.
    if (slot.pending && !Complete(slot).ok()) backend_.WaitEvent(*slot.done);
  }
}

Status NcclSender::Complete(Slot& slot) {
  if (!slot.pending) return OkStatus();
  STRATA_RETURN_IF_ERROR(
      comm_->WaitEvent(*slot.done, "sending activations", Clock::now() + options_.timeout));
  slot.pending = false;
  stats_.Record(slot.payload_bytes, Clock::now() - slot.sent_at);
  return OkStatus();
}

StatusOr<uint64_t> NcclSender::SendEncoded(std::span<const std::byte> header_bytes,
                                           const void* payload, size_t payload_bytes) {
  const size_t header_size = limits().max_header_bytes();
  if (header_bytes.size() > header_size) {
    return InvalidArgument("NCCL link: header of " + to_string(header_bytes.size()) +
                           " bytes exceeds the link's largest");
  }
  if (!comm_->failed().ok()) return comm_->failed();
  STRATA_CUDA_CHECK(cudaSetDevice(comm_->device()));
  Slot& slot = slots_[next_ticket_ % slots_.size()];
  STRATA_RETURN_IF_ERROR(Complete(slot));  // the slot's previous message
  // Fixed size on the wire: the receiver must know the size of what it receives.
  std::byte* host_header = slot.host_header.get();
  std::memset(host_header, 0, header_size);
  std::memcpy(host_header, header_bytes.data(), header_bytes.size());
  backend_.RecordEvent(*slot.written, Stream::kCompute);
  stream_->Wait(*slot.written);
  const auto stream = static_cast<cudaStream_t>(stream_->native());
  STRATA_CUDA_CHECK(cudaMemcpyAsync(slot.device_header.get(), host_header, header_size,
                                    cudaMemcpyHostToDevice, stream));
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  STRATA_RETURN_IF_ERROR(comm_->Settle(ncclSend(slot.device_header.get(), header_size, ncclUint8,
                                                comm_->peer(), comm_->get(), stream),
                                       "sending a header", deadline));
  if (payload_bytes > 0) {
    STRATA_RETURN_IF_ERROR(comm_->Settle(
        ncclSend(payload, payload_bytes, ncclUint8, comm_->peer(), comm_->get(), stream),
        "sending a payload", deadline));
  }
  stream_->Record(*slot.done);
  slot.ticket = next_ticket_;
  slot.pending = true;
  slot.payload_bytes = payload_bytes;
  slot.sent_at = Clock::now();
  return next_ticket_++;
}

Status NcclSender::WaitSent(uint64_t ticket) {
  if (ticket >= next_ticket_) {
    return InvalidArgument("NCCL sender: ticket " + to_string(ticket) + " was never sent");
  }
  for (Slot& slot : slots_) {
    if (slot.pending && slot.ticket <= ticket) STRATA_RETURN_IF_ERROR(Complete(slot));
  }
  return OkStatus();
}

StatusOr<const void*> NcclSender::StageErrorText(std::string_view text) {
  STRATA_CUDA_CHECK(cudaSetDevice(comm_->device()));
  STRATA_CUDA_CHECK(
      cudaMemcpy(device_text_.get(), text.data(), text.size(), cudaMemcpyHostToDevice));
  return static_cast<const void*>(device_text_.get());
}

}  // namespace strata::transport
