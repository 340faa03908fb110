// NcclReceiver (see nccl_receiver.h).
#include "common/transport/nccl/nccl_receiver.h"

#include <cuda_runtime.h>

#include <string>

#include "common/backend/device_check.h"

namespace strata::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::to_string;

}  // namespace

StatusOr<std::unique_ptr<NcclReceiver>> NcclReceiver::Create(Backend& backend,
                                                             std::string id_hex,
                                                             const LinkLimits& limits,
                                                             const LinkOptions& options,
                                                             std::span<std::byte> buffer) {
  STRATA_RETURN_IF_ERROR(CheckReceiveBuffer(buffer, limits));
  std::unique_ptr<NcclReceiver> r(
      new NcclReceiver(backend, std::move(id_hex), limits, options, buffer));
  STRATA_ASSIGN_OR_RETURN(r->device_header_, backend.Allocate(limits.max_header_bytes()));
  STRATA_ASSIGN_OR_RETURN(r->host_header_, backend.AllocatePinned(limits.max_header_bytes()));
  STRATA_ASSIGN_OR_RETURN(r->host_text_, backend.AllocatePinned(kMaxErrorTextBytes));
  r->header_done_ = backend.CreateEvent();
  r->received_ = backend.CreateEvent();
  r->consumed_ = backend.CreateEvent();
  r->stream_ = backend.CreateStream();
  r->message_.header.seqs.reserve(static_cast<size_t>(limits.max_seqs));
  return r;
}

NcclReceiver::~NcclReceiver() {
  // A posted receive the peer never matches would block the stream forever: aborting the
  // communicator ends it.
  if (header_pending_) {
    static_cast<void>(
        comm_->Abort(Unavailable("NCCL receiver closed while waiting for a message")));
  }
}

Status NcclReceiver::Open() {
  STRATA_ASSIGN_OR_RETURN(comm_, NcclComm::Join(backend_, id_hex_, 1, *stream_,
                                                device_header_.get(), options_.timeout));
  return OkStatus();
}

void NcclReceiver::Consumed() {
  backend_.RecordEvent(*consumed_, Stream::kCompute);
  consumed_recorded_ = true;
}

StatusOr<const ReceivedMessage*> NcclReceiver::Receive(std::chrono::milliseconds timeout) {
  if (comm_ == nullptr) return FailedPrecondition("NCCL input link used before Open");
  if (!failed_.ok()) return failed_;
  STRATA_CUDA_CHECK(cudaSetDevice(comm_->device()));
  const Clock::time_point start = Clock::now();
  const size_t header_bytes = limits_.max_header_bytes();
  const auto stream = static_cast<cudaStream_t>(stream_->native());
  if (!header_pending_) {
    if (consumed_recorded_) {  // the last payload is read before the next one lands
      stream_->Wait(*consumed_);
      consumed_recorded_ = false;
    }
    // Posting waits for NCCL only while it is busy, bounded by the link's timeout.
    STRATA_RETURN_IF_ERROR(comm_->Settle(ncclRecv(device_header_.get(), header_bytes, ncclUint8,
                                                  comm_->peer(), comm_->get(), stream),
                                         "receiving a header", start + options_.timeout));
    STRATA_CUDA_CHECK(cudaMemcpyAsync(host_header_.get(), device_header_.get(), header_bytes,
                                      cudaMemcpyDeviceToHost, stream));
    stream_->Record(*header_done_);
    header_pending_ = true;
  }
  STRATA_ASSIGN_OR_RETURN(const bool arrived,
                          comm_->PollEvent(*header_done_, "waiting for a header", start + timeout));
  if (!arrived) {
    return DeadlineExceeded("NCCL link from rank " + to_string(comm_->peer()) +
                            ": no message within " + to_string(timeout.count()) + " ms");
  }
  header_pending_ = false;
  const Clock::time_point deadline = Clock::now() + options_.timeout;

  // The counts sit in the fixed part; the decoder refuses counts beyond the limits.
  const std::byte* host_header = host_header_.get();
  const size_t used = HeaderBytesFromFixedPart(std::span(host_header, kHeaderFixedBytes), limits_);
  const Status decoded = DecodeHeader(std::span(host_header, used), limits_, &message_.header);
  if (!decoded.ok()) {
    failed_ = decoded.WithContext("NCCL link from rank " + to_string(comm_->peer()) +
                                  " (the link is closed: its payload cannot be skipped)");
    return failed_;
  }
  const uint64_t bytes = message_.header.payload_bytes;
  if (bytes > 0) {
    STRATA_RETURN_IF_ERROR(comm_->Settle(
        ncclRecv(buffer_.data(), bytes, ncclUint8, comm_->peer(), comm_->get(), stream),
        "receiving a payload", deadline));
  }
  if (message_.header.kind == MessageKind::kError) {
    STRATA_CUDA_CHECK(cudaMemcpyAsync(host_text_.get(), buffer_.data(), bytes,
                                      cudaMemcpyDeviceToHost, stream));
    stream_->Record(*header_done_);
    STRATA_RETURN_IF_ERROR(comm_->WaitEvent(*header_done_, "receiving an error text", deadline));
    message_.payload = std::span<const std::byte>(host_text_.get(), bytes);
  } else {
    message_.payload = buffer_.first(bytes);
  }
  if (message_.header.kind == MessageKind::kActivations) {
    stream_->Record(*received_);
    backend_.StreamWaitEvent(Stream::kCompute, *received_);
  }
  stats_.Record(bytes, Clock::now() - start);
  return &message_;
}

}  // namespace strata::transport
