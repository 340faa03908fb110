// Activation links over NCCL point-to-point (device memory, CUDA streams), for stages whose
// GPUs NCCL can connect (NVLink, PCIe, InfiniBand/RoCE, or its socket transport).
//
// Set-up: one member of a communicator calls CreateNcclUniqueIdHex (NCCL's bootstrap root then
// runs in that process) and the hex string reaches the others over the control plane (the
// worker: the receiving stage makes the id of its link, the coordinator hands it to the
// sending stage); each member calls NcclComm::Init with it, for a 2-rank communicator per link
// (rank 0 = the sending stage, rank 1 = the receiving one). Init also connects every pair of
// ranks, so no later send or receive waits for a connection.
//
// Each message is, on the caller's stream, a fixed-size header (max_header_bytes, copied from
// a pinned host slot to a device slot) and then the payload, both ncclSend to the peer. The
// receiver takes the header first, waits for it on the host (NCCL needs the payload size
// before it can post the payload receive), validates it, and enqueues the payload receive
// into its device buffer on its stream. A header that fails validation leaves its payload
// unreceivable, so it fails the link: every later call returns that error.
// Timeouts: the communicator is non-blocking; every host wait polls the stream's event and
// NCCL's async error up to its deadline, and on a timeout or peer error aborts the
// communicator (ncclCommAbort) and returns kUnavailable instead of hanging. The one exception
// is a receiver waiting for the next header: a quiet link is normal, so Receive's timeout
// returns kDeadlineExceeded and the next Receive goes on waiting for the same header.
// Thread-safety: one thread per sender or receiver; a communicator is used by one sender
// and/or one receiver at a time (NCCL serialises operations per communicator).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/transport/transport.h"

namespace strata::transport {

// A fresh ncclUniqueId as 2 * NCCL_UNIQUE_ID_BYTES hex digits.
StatusOr<std::string> CreateNcclUniqueIdHex();
std::string NcclUniqueIdToHex(const ncclUniqueId& id);
StatusOr<ncclUniqueId> NcclUniqueIdFromHex(std::string_view hex);

class NcclComm {
 public:
  // Joins the communicator `id_hex` as `rank` of `nranks` on CUDA device `device`; every rank
  // must call it within `timeout`. Makes `device` current on the calling thread.
  static StatusOr<std::unique_ptr<NcclComm>> Init(std::string_view id_hex, int nranks, int rank,
                                                  int device, std::chrono::milliseconds timeout);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  ncclComm_t get() const { return comm_; }
  int rank() const { return rank_; }
  int nranks() const { return nranks_; }
  int device() const { return device_; }

  // Checks an NCCL call's result; a non-blocking call in progress is waited for (up to
  // `deadline`). Any failure aborts the communicator and is returned as kUnavailable.
  Status Settle(ncclResult_t result, const char* what, std::chrono::steady_clock::time_point deadline);
  // Waits until `event` completed, polling NCCL's async error; aborts on error or deadline.
  Status WaitEvent(cudaEvent_t event, const char* what,
                   std::chrono::steady_clock::time_point deadline);
  // Like WaitEvent, but the deadline passing is not an error: false, and nothing aborted.
  StatusOr<bool> PollEvent(cudaEvent_t event, const char* what,
                           std::chrono::steady_clock::time_point deadline);
  // Aborts the communicator (its pending operations end) and records `why`; returns the
  // first error recorded.
  Status Abort(Status why);
  // The error that aborted the communicator, or OK.
  const Status& failed() const { return failed_; }

 private:
  NcclComm() = default;
  Status ConnectPeers(std::chrono::steady_clock::time_point deadline);

  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int nranks_ = 0;
  int device_ = 0;
  Status failed_;
};

class NcclSender {
 public:
  // Sends to rank `peer` of `comm` (which must outlive the sender).
  static StatusOr<std::unique_ptr<NcclSender>> Create(NcclComm& comm, int peer,
                                                      const LinkLimits& limits,
                                                      const LinkOptions& options);
  ~NcclSender();

  // Enqueues the message on `stream` after the work already there (so the payload, device
  // memory of header.payload_bytes, may be produced by kernels on that stream); it must stay
  // untouched until WaitSent(ticket). Blocks only while max_in_flight messages are pending.
  StatusOr<uint64_t> Send(const MessageHeader& header, const void* device_payload,
                          cudaStream_t stream);
  // Sends a shutdown or error message on `stream` and waits for it.
  Status SendShutdown(uint64_t step_id, cudaStream_t stream);
  Status SendError(uint64_t step_id, std::string_view text, cudaStream_t stream);
  // Blocks until message `ticket` and those before it left the device, up to the link timeout.
  Status WaitSent(uint64_t ticket);
  HopStats stats() const { return stats_.Snapshot(); }

 private:
  struct Slot {
    std::byte* host_header = nullptr;    // (max_header_bytes) pinned
    std::byte* device_header = nullptr;  // (max_header_bytes)
    cudaEvent_t done = nullptr;          // recorded after the message's sends
    uint64_t ticket = 0;
    bool pending = false;
    size_t payload_bytes = 0;
    std::chrono::steady_clock::time_point sent_at;
  };
  NcclSender(NcclComm& comm, int peer, const LinkLimits& limits, const LinkOptions& options)
      : comm_(comm), peer_(peer), limits_(limits), options_(options) {}
  Status Complete(Slot& slot);  // waits for the slot's pending message

  NcclComm& comm_;
  const int peer_;
  const LinkLimits limits_;
  const LinkOptions options_;
  std::vector<Slot> slots_;           // (max_in_flight) message t in slots_[t % max_in_flight]
  std::byte* device_text_ = nullptr;  // (kMaxErrorTextBytes) an error message's text
  uint64_t next_ticket_ = 0;
  HopRecorder stats_;
};

class NcclReceiver {
 public:
  // Receives from rank `peer` of `comm` into `device_buffer` (limits.max_payload_bytes() of
  // device memory on comm.device(), owned by the caller and outliving the receiver).
  static StatusOr<std::unique_ptr<NcclReceiver>> Create(NcclComm& comm, int peer,
                                                        const LinkLimits& limits,
                                                        const LinkOptions& options,
                                                        std::span<std::byte> device_buffer);
  ~NcclReceiver();

  // Receives the next header (waiting up to `timeout` on the host), validates it and
  // enqueues the payload receive on `stream` (the same stream on every call): the returned
  // payload (device memory) is ready for work enqueued on `stream` afterwards, and the buffer
  // is written again only by work enqueued on `stream` after the next call posts its header
  // receive. An error message's text is returned in host memory. Valid until the next
  // Receive. kDeadlineExceeded when no header arrived within `timeout` (nothing aborted).
  StatusOr<const ReceivedMessage*> Receive(cudaStream_t stream, std::chrono::milliseconds timeout);
  HopStats stats() const { return stats_.Snapshot(); }

 private:
  NcclReceiver(NcclComm& comm, int peer, const LinkLimits& limits, const LinkOptions& options,
               std::span<std::byte> buffer)
      : comm_(comm), peer_(peer), limits_(limits), options_(options), buffer_(buffer) {}

  NcclComm& comm_;
  const int peer_;
  const LinkLimits limits_;
  const LinkOptions options_;
  bool header_pending_ = false;  // a header receive is posted and has not arrived
  std::span<std::byte> buffer_;        // (max_payload_bytes) device, the caller's
  std::byte* device_header_ = nullptr;  // (max_header_bytes)
  std::byte* host_header_ = nullptr;    // (max_header_bytes) pinned
  std::byte* host_text_ = nullptr;      // (kMaxErrorTextBytes) pinned, an error's text
  cudaEvent_t header_done_ = nullptr;
  Status failed_;  // a header that failed validation breaks the link
  ReceivedMessage message_;
  HopRecorder stats_;
};

// CUDA devices this process can see (0 when there is no driver or device).
int VisibleCudaDevices();

}  // namespace strata::transport
