// Stage links over NCCL (see nccl_links.h). Each link is a 2-rank communicator: rank 0 the
// sending stage, rank 1 the receiving one. Streams and ordering:
//   receive: the payload lands on the link's own stream; the compute stream waits for it (an
//     event), and the next payload receive waits for the compute stream's copy-in of the
//     last one (another event), so the receive of step k+1 overlaps the compute of step k.
//   send: the send stream waits for the compute stream's output copy (an event per buffer),
//     so the compute stream goes on with the next step while NCCL sends.
#include "worker/nccl_links.h"

#include <cuda_runtime.h>

#include "common/backend/device_check.h"
#include "common/transport/nccl/nccl_transport.h"

namespace strata::worker {
namespace {

// An input link's address: "nccl:<GPU UUID, 32 hex digits>:<ncclUniqueId, hex>". The UUID
// lets the sending stage refuse a link whose two ends are on one GPU (NCCL would only say
// "invalid usage").
constexpr std::string_view kScheme = "nccl:";
constexpr size_t kUuidHexDigits = 32;

transport::LinkOptions OptionsFor(const LinkSettings& settings) {
  transport::LinkOptions o;
  o.timeout = settings.timeout;
  o.max_in_flight = 4;
  return o;
}

// A stream and events on the backend's device, released with the link.
class CudaQueue {
 public:
  ~CudaQueue() {
    if (stream_ != nullptr) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
  }
  Status Create(int device, int n_events) {
    STRATA_CUDA_CHECK(cudaSetDevice(device));
    STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (int i = 0; i < n_events; ++i) {
      cudaEvent_t e = nullptr;
      STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      events_.push_back(e);
    }
    return OkStatus();
  }
  cudaStream_t stream() const { return stream_; }
  cudaEvent_t event(size_t i) const { return events_[i]; }

 private:
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> events_;
};

StatusOr<int> DeviceOf(Backend& backend) {
  const int device = backend.caps().device;
  if (device < 0 || backend.NativeStream(Stream::kCompute) == nullptr) {
    return InvalidArgument("the nccl transport needs a CUDA backend (--backend cuda:N), not " +
                           backend.caps().name + "; use --transport ucx");
  }
  return device;
}

std::string GpuUuidHex(int device) {
  cudaDeviceProp props{};
  STRATA_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (char c : props.uuid.bytes) {
    const auto b = static_cast<unsigned char>(c);
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 15]);
  }
  return hex;
}

class NcclInputLink final : public InputLink {
 public:
  NcclInputLink(Backend& backend, const transport::LinkLimits& limits, const LinkSettings& s)
      : limits_(limits), options_(OptionsFor(s)),
        compute_(static_cast<cudaStream_t>(backend.NativeStream(Stream::kCompute))) {}
  ~NcclInputLink() override {
    receiver_.reset();  // before the communicator it uses
    comm_.reset();
  }

  const std::string& address() const override { return address_; }
  ActivationMemory memory() const override { return ActivationMemory::kDevice; }

  Status Open() override {
    STRATA_ASSIGN_OR_RETURN(comm_, transport::NcclComm::Init(id_hex_, 2, 1, device_,
                                                             options_.timeout));
    STRATA_ASSIGN_OR_RETURN(
        receiver_, transport::NcclReceiver::Create(
                       *comm_, 0, limits_, options_,
                       std::span<std::byte>(buffer_.get(), limits_.max_payload_bytes())));
    return OkStatus();
  }

  StatusOr<const transport::ReceivedMessage*> Receive(std::chrono::milliseconds timeout) override {
    if (receiver_ == nullptr) return FailedPrecondition("NCCL input link used before Open");
    STRATA_CUDA_CHECK(cudaSetDevice(device_));
    if (consumed_recorded_) {
      STRATA_CUDA_CHECK(cudaStreamWaitEvent(queue_.stream(), queue_.event(kConsumed), 0));
      consumed_recorded_ = false;
    }
    STRATA_ASSIGN_OR_RETURN(const transport::ReceivedMessage* m,
                            receiver_->Receive(queue_.stream(), timeout));
    if (m->header.kind == transport::MessageKind::kActivations) {
      STRATA_CUDA_CHECK(cudaEventRecord(queue_.event(kReceived), queue_.stream()));
      STRATA_CUDA_CHECK(cudaStreamWaitEvent(compute_, queue_.event(kReceived), 0));
    }
    return m;
  }

  void Consumed() override {
    STRATA_CUDA_CHECK(cudaEventRecord(queue_.event(kConsumed), compute_));
    consumed_recorded_ = true;
  }

  transport::HopStats stats() const override {
    return receiver_ != nullptr ? receiver_->stats() : transport::HopStats{};
  }

  static constexpr size_t kReceived = 0, kConsumed = 1;
  const transport::LinkLimits limits_;
  const transport::LinkOptions options_;
  const cudaStream_t compute_;
  int device_ = 0;
  std::string id_hex_;
  std::string address_;
  DeviceBuffer buffer_;  // (max_rows, hidden) device, the receiver's
  CudaQueue queue_;      // the receive stream; events kReceived, kConsumed
  bool consumed_recorded_ = false;
  std::unique_ptr<transport::NcclComm> comm_;
  std::unique_ptr<transport::NcclReceiver> receiver_;
};

class NcclOutputLink final : public OutputLink {
 public:
  NcclOutputLink(Backend& backend, const transport::LinkLimits& limits, const LinkSettings& s)
      : limits_(limits), options_(OptionsFor(s)),
        compute_(static_cast<cudaStream_t>(backend.NativeStream(Stream::kCompute))) {}
  ~NcclOutputLink() override {
    sender_.reset();  // waits for (or aborts) its sends before the buffers go
    comm_.reset();
  }

  ActivationMemory memory() const override { return ActivationMemory::kDevice; }

  Status Open(const std::string& next_address) override {
    const size_t id_at = kScheme.size() + kUuidHexDigits + 1;
    if (next_address.size() <= id_at || next_address.substr(0, kScheme.size()) != kScheme ||
        next_address[id_at - 1] != ':') {
      return InvalidArgument("the next stage's address '" + next_address.substr(0, 64) +
                             "' is not an NCCL link (nccl:<gpu uuid>:<id>); every worker of "
                             "the cluster must run the same Strata version");
    }
    const std::string peer_gpu = next_address.substr(kScheme.size(), kUuidHexDigits);
    if (peer_gpu == GpuUuidHex(device_)) {
      return FailedPrecondition(
          "the next stage runs on this stage's GPU (cuda:" + std::to_string(device_) +
          ", UUID " + peer_gpu + "): an NCCL link needs a GPU at each end; give neighbouring "
          "workers different GPUs (--backend cuda:N) or use --transport ucx");
    }
    STRATA_ASSIGN_OR_RETURN(comm_, transport::NcclComm::Init(next_address.substr(id_at), 2, 0,
                                                             device_, options_.timeout));
    STRATA_ASSIGN_OR_RETURN(sender_,
                            transport::NcclSender::Create(*comm_, 1, limits_, options_));
    return OkStatus();
  }

  StatusOr<float*> NextBuffer() override {
    if (sender_ == nullptr) return FailedPrecondition("NCCL output link used before Open");
    return buffers_.Next([this](uint64_t ticket) { return sender_->WaitSent(ticket); });
  }

  Status Send(const transport::MessageHeader& header, float* buffer) override {
    const cudaEvent_t written = queue_.event(static_cast<size_t>(buffers_.current()));
    STRATA_CUDA_CHECK(cudaSetDevice(device_));
    STRATA_CUDA_CHECK(cudaEventRecord(written, compute_));
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(queue_.stream(), written, 0));
    STRATA_ASSIGN_OR_RETURN(const uint64_t ticket,
                            sender_->Send(header, buffer, queue_.stream()));
    buffers_.Sent(ticket);
    return OkStatus();
  }

  transport::HopStats stats() const override {
    return sender_ != nullptr ? sender_->stats() : transport::HopStats{};
  }

  const transport::LinkLimits limits_;
  const transport::LinkOptions options_;
  const cudaStream_t compute_;
  int device_ = 0;
  SendBuffers buffers_;                 // device
  CudaQueue queue_;                     // the send stream; event b: buffer b written
  std::unique_ptr<transport::NcclComm> comm_;
  std::unique_ptr<transport::NcclSender> sender_;
};

}  // namespace

StatusOr<std::unique_ptr<InputLink>> CreateNcclInputLink(Backend& backend,
                                                         const transport::LinkLimits& limits,
                                                         const LinkSettings& settings) {
  STRATA_ASSIGN_OR_RETURN(const int device, DeviceOf(backend));
  auto link = std::make_unique<NcclInputLink>(backend, limits, settings);
  link->device_ = device;
  STRATA_ASSIGN_OR_RETURN(link->buffer_, backend.Allocate(limits.max_payload_bytes()));
  STRATA_RETURN_IF_ERROR(link->queue_.Create(device, 2));
  STRATA_ASSIGN_OR_RETURN(link->id_hex_, transport::CreateNcclUniqueIdHex());
  link->address_ = std::string(kScheme) + GpuUuidHex(device) + ":" + link->id_hex_;
  return std::unique_ptr<InputLink>(std::move(link));
}

StatusOr<std::unique_ptr<OutputLink>> CreateNcclOutputLink(Backend& backend,
                                                           const transport::LinkLimits& limits,
                                                           const LinkSettings& settings) {
  STRATA_ASSIGN_OR_RETURN(const int device, DeviceOf(backend));
  auto link = std::make_unique<NcclOutputLink>(backend, limits, settings);
  link->device_ = device;
  for (int i = 0; i < 2; ++i) {
    STRATA_ASSIGN_OR_RETURN(link->buffers_.buffer(i), backend.Allocate(limits.max_payload_bytes()));
  }
  STRATA_RETURN_IF_ERROR(link->queue_.Create(device, 2));
  return std::unique_ptr<OutputLink>(std::move(link));
}

}  // namespace strata::worker
