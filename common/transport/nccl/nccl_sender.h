// Internal to nccl/: the sending end of an NCCL link (rank 0 of its communicator).
// Each message is a fixed-size header (max_header_bytes, copied from a pinned host slot to a
// device slot) and then the payload, both ncclSend on the link's own stream once the compute
// stream has written the payload (an event per slot), so the compute stream goes on with the
// next step while NCCL sends. Resources — the slots, the link's stream and events — are made
// through the backend at Connect; nothing is allocated per message.
// Thread-safety: as transport.h.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <vector>

#include "common/backend/backend.h"
#include "common/transport/nccl/nccl_comm.h"
#include "common/transport/transport.h"

namespace strata::transport {

class NcclSender final : public ActivationSender {
 public:
  // Makes the sender's resources and joins the communicator `id_hex` (the receiver's Open
  // must run at the same time).
  static StatusOr<std::unique_ptr<NcclSender>> Connect(Backend& backend, std::string_view id_hex,
                                                       const LinkLimits& limits,
                                                       const LinkOptions& options);
  // Waits (up to the link timeout, then aborts the communicator) for what is in flight.
  ~NcclSender() override;

  StatusOr<uint64_t> SendEncoded(std::span<const std::byte> header_bytes, const void* payload,
                                 size_t payload_bytes) override;
  Status WaitSent(uint64_t ticket) override;
  HopStats stats() const override { return stats_.Snapshot(); }

 protected:
  // The text in device memory: a synchronous copy, done before the send reads it.
  StatusOr<const void*> StageErrorText(std::string_view text) override;

 private:
  struct Slot {
    DeviceBuffer host_header;                // (max_header_bytes) pinned
    DeviceBuffer device_header;              // (max_header_bytes)
    std::unique_ptr<BackendEvent> written;   // on the compute stream: the payload is written
    std::unique_ptr<BackendEvent> done;      // on the link stream: the message's sends ended
    uint64_t ticket = 0;
    bool pending = false;
    size_t payload_bytes = 0;
    std::chrono::steady_clock::time_point sent_at;
  };
  NcclSender(Backend& backend, const LinkLimits& limits, const LinkOptions& options)
      : ActivationSender(limits), backend_(backend), options_(options) {}
  Status Complete(Slot& slot);  // waits for the slot's pending message

  Backend& backend_;
  const LinkOptions options_;
  std::vector<Slot> slots_;       // (max_in_flight) message t in slots_[t % max_in_flight]
  DeviceBuffer device_text_;      // (kMaxErrorTextBytes) an error message's text
  std::unique_ptr<BackendStream> stream_;  // NCCL's sends; after the buffers it sends from
  std::unique_ptr<NcclComm> comm_;         // destroyed first: its sends have ended
  uint64_t next_ticket_ = 0;
  HopRecorder stats_;
};

}  // namespace strata::transport
