// Internal to nccl/: the receiving end of an NCCL link (rank 1 of its communicator).
// Receive takes the fixed-size header first on the link's own stream, waits for it on the
// host (NCCL needs the payload size before it can post the payload receive), validates it,
// and enqueues the payload receive into the device buffer on the same stream; the compute
// stream waits for the payload by event, and the next payload receive waits for the work the
// compute stream was given before Consumed (another event), so the receive of step k+1
// overlaps the compute of step k. A header that fails validation leaves its payload
// unreceivable, so it fails the link: every later call returns that error. A quiet link is
// normal: Receive's timeout returns kDeadlineExceeded, and the next Receive goes on waiting
// for the same header. Resources are made through the backend at creation (Listen).
// Thread-safety: as transport.h.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "common/backend/backend.h"
#include "common/transport/nccl/nccl_comm.h"
#include "common/transport/transport.h"

namespace strata::transport {

class NcclReceiver final : public ActivationReceiver {
 public:
  // A receiver of communicator `id_hex` into `buffer` (device memory of the backend, the
  // caller's, outliving the receiver); joined by Open.
  static StatusOr<std::unique_ptr<NcclReceiver>> Create(Backend& backend, std::string id_hex,
                                                        const LinkLimits& limits,
                                                        const LinkOptions& options,
                                                        std::span<std::byte> buffer);
  // A receive still posted is ended by aborting the communicator.
  ~NcclReceiver() override;

  Status Open() override;
  StatusOr<const ReceivedMessage*> Receive(std::chrono::milliseconds timeout) override;
  void Consumed() override;
  HopStats stats() const override { return stats_.Snapshot(); }

 private:
  NcclReceiver(Backend& backend, std::string id_hex, const LinkLimits& limits,
               const LinkOptions& options, std::span<std::byte> buffer)
      : backend_(backend), id_hex_(std::move(id_hex)), limits_(limits), options_(options),
        buffer_(buffer) {}

  Backend& backend_;
  const std::string id_hex_;
  const LinkLimits limits_;
  const LinkOptions options_;
  std::span<std::byte> buffer_;  // (max_payload_bytes) device, the caller's
  DeviceBuffer device_header_;   // (max_header_bytes)
  DeviceBuffer host_header_;     // (max_header_bytes) pinned
  DeviceBuffer host_text_;       // (kMaxErrorTextBytes) pinned, an error's text
  std::unique_ptr<BackendEvent> header_done_;  // link stream: the header is in host_header_
  std::unique_ptr<BackendEvent> received_;     // link stream: the payload is in buffer_
  std::unique_ptr<BackendEvent> consumed_;     // compute stream: the payload has been read
  std::unique_ptr<BackendStream> stream_;      // NCCL's receives; after what they write into
  std::unique_ptr<NcclComm> comm_;             // from Open; destroyed first
  bool header_pending_ = false;    // a header receive is posted and has not arrived
  bool consumed_recorded_ = false;  // the next payload receive must wait for consumed_
  Status failed_;                  // a header that failed validation breaks the link
  ReceivedMessage message_;
  HopRecorder stats_;
};

}  // namespace strata::transport
