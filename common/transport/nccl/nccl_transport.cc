// NcclComm, NcclSender, NcclReceiver: the protocol of nccl_transport.h.
#include "common/transport/nccl/nccl_transport.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/backend/device_check.h"

namespace strata::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::to_string;

// Host waits poll; the sleep between polls grows to this bound (plus the kernel's timer
// slack, about 50 µs): how late an arrived message may be noticed, against a few percent of
// a core while a link is idle.
constexpr auto kMaxPollSleep = std::chrono::microseconds(20);

std::string NcclError(ncclResult_t r) { return ncclGetErrorString(r); }

StatusOr<std::byte*> DeviceAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return ResourceExhausted("NCCL link: cannot allocate " + to_string(bytes) +
                             " bytes of device memory");
  }
  return static_cast<std::byte*>(p);
}

StatusOr<std::byte*> PinnedAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    return ResourceExhausted("NCCL link: cannot allocate " + to_string(bytes) +
                             " bytes of pinned host memory");
  }
  return static_cast<std::byte*>(p);
}

uint32_t Le32(const std::byte* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

}  // namespace

// ---- ids --------------------------------------------------------------------------------

std::string NcclUniqueIdToHex(const ncclUniqueId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * NCCL_UNIQUE_ID_BYTES);
  for (char c : id.internal) {
    const auto b = static_cast<unsigned char>(c);
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 15]);
  }
  return hex;
}

StatusOr<ncclUniqueId> NcclUniqueIdFromHex(std::string_view hex) {
  if (hex.size() != 2 * NCCL_UNIQUE_ID_BYTES) {
    return InvalidArgument("NCCL unique id has " + to_string(hex.size()) + " hex digits, not " +
                           to_string(2 * NCCL_UNIQUE_ID_BYTES));
  }
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  ncclUniqueId id;
  for (size_t i = 0; i < NCCL_UNIQUE_ID_BYTES; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument("NCCL unique id is not hexadecimal");
    id.internal[i] = static_cast<char>(hi << 4 | lo);
  }
  return id;
}

StatusOr<std::string> CreateNcclUniqueIdHex() {
  ncclUniqueId id;
  const ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess) {
    return Unavailable("ncclGetUniqueId: " + NcclError(r) +
                       "; check NCCL_SOCKET_IFNAME names a usable interface");
  }
  return NcclUniqueIdToHex(id);
}

int VisibleCudaDevices() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

// ---- communicator -----------------------------------------------------------------------

StatusOr<std::unique_ptr<NcclComm>> NcclComm::Init(std::string_view id_hex, int nranks,
                                                   int rank, int device,
                                                   std::chrono::milliseconds timeout) {
  STRATA_ASSIGN_OR_RETURN(ncclUniqueId id, NcclUniqueIdFromHex(id_hex));
  if (nranks < 2 || rank < 0 || rank >= nranks) {
    return InvalidArgument("NCCL communicator needs 0 <= rank < nranks and nranks >= 2; got rank " +
                           to_string(rank) + " of " + to_string(nranks));
  }
  if (device < 0 || device >= VisibleCudaDevices()) {
    return InvalidArgument("CUDA device " + to_string(device) + " is not visible to this process");
  }
  STRATA_CUDA_CHECK(cudaSetDevice(device));
  std::unique_ptr<NcclComm> c(new NcclComm());
  c->rank_ = rank;
  c->nranks_ = nranks;
  c->device_ = device;
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t r = ncclCommInitRankConfig(&c->comm_, nranks, id, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    c->comm_ = nullptr;
    return Unavailable("ncclCommInitRankConfig (rank " + to_string(rank) + " of " +
                       to_string(nranks) + "): " + NcclError(r) +
                       (r == ncclInvalidUsage ? " (two ranks on one GPU?)" : ""));
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  STRATA_RETURN_IF_ERROR(c->Settle(r, "joining the NCCL communicator", deadline));
  STRATA_RETURN_IF_ERROR(c->ConnectPeers(deadline));
  return c;
}

// P2P connections are made by the first send and receive between two ranks, which on a
// non-blocking communicator report ncclInProgress until the peer makes its matching call.
// Exchanging a byte with every peer here, where the ranks wait for each other anyway, keeps
// that out of the first activation's path and out of a receiver's short poll.
Status NcclComm::ConnectPeers(Clock::time_point deadline) {
  STRATA_ASSIGN_OR_RETURN(std::byte* bytes, DeviceAlloc(static_cast<size_t>(nranks_)));
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;
  Status st = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess &&
                      cudaEventCreateWithFlags(&done, cudaEventDisableTiming) == cudaSuccess
                  ? OkStatus()
                  : Internal("NCCL: cannot create the stream that connects the peer ranks");
  if (st.ok()) {
    ncclResult_t r = ncclGroupStart();
    for (int peer = 0; peer < nranks_ && (r == ncclSuccess || r == ncclInProgress); ++peer) {
      if (peer == rank_) continue;
      r = ncclSend(bytes + rank_, 1, ncclUint8, peer, comm_, stream);
      if (r == ncclSuccess || r == ncclInProgress) {
        r = ncclRecv(bytes + peer, 1, ncclUint8, peer, comm_, stream);
      }
    }
    const ncclResult_t end = ncclGroupEnd();
    st = Settle(r == ncclSuccess || r == ncclInProgress ? end : r, "connecting the peer ranks",
                deadline);
  }
  if (st.ok() && cudaEventRecord(done, stream) != cudaSuccess) {
    st = Abort(Internal("NCCL: cannot record the connection's completion"));
  }
  if (st.ok()) st = WaitEvent(done, "connecting the peer ranks", deadline);
  if (stream != nullptr) {
    cudaStreamSynchronize(stream);  // after an abort, the aborted kernels have ended
    cudaStreamDestroy(stream);
  }
  if (done != nullptr) cudaEventDestroy(done);
  cudaFree(bytes);
  cudaGetLastError();
  return st;
}

NcclComm::~NcclComm() {
  if (comm_ == nullptr) return;
  if (failed_.ok()) {
    ncclCommFinalize(comm_);
    ncclResult_t state = ncclInProgress;
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
    while (ncclCommGetAsyncError(comm_, &state) == ncclSuccess && state == ncclInProgress &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(kMaxPollSleep);
    }
    if (state == ncclSuccess) {
      ncclCommDestroy(comm_);
      return;
    }
  }
  ncclCommAbort(comm_);
}

Status NcclComm::Abort(Status why) {
  if (failed_.ok()) {
    failed_ = std::move(why);
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  return failed_;
}

Status NcclComm::Settle(ncclResult_t result, const char* what, Clock::time_point deadline) {
  if (!failed_.ok()) return failed_;
  auto sleep = std::chrono::microseconds(1);
  while (result == ncclInProgress) {
    if (Clock::now() > deadline) {
      return Abort(Unavailable(std::string("NCCL: ") + what +
                               " timed out; a peer rank is missing or stalled"));
    }
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, kMaxPollSleep);
    if (ncclCommGetAsyncError(comm_, &result) != ncclSuccess) result = ncclInternalError;
  }
  if (result != ncclSuccess) {
    return Abort(Unavailable(std::string("NCCL: ") + what + ": " + NcclError(result) +
                             (result == ncclInvalidUsage
                                  ? " (two ranks of the communicator on one GPU? an NCCL link "
                                    "needs a GPU at each end)"
                                  : "")));
  }
  return OkStatus();
}

StatusOr<bool> NcclComm::PollEvent(cudaEvent_t event, const char* what,
                                   Clock::time_point deadline) {
  if (!failed_.ok()) return failed_;
  auto sleep = std::chrono::microseconds(1);
  for (;;) {
    const cudaError_t e = cudaEventQuery(event);
    if (e == cudaSuccess) return true;
    if (e != cudaErrorNotReady) {
      STRATA_CUDA_CHECK(e);  // a device fault, not a peer's
    }
    ncclResult_t async = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async) != ncclSuccess ||
        (async != ncclSuccess && async != ncclInProgress)) {
      return Abort(Unavailable(std::string("NCCL: ") + what + ": " + NcclError(async) +
                               "; a peer rank failed"));
    }
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(sleep);
    sleep = std::min(sleep * 2, kMaxPollSleep);
  }
}

Status NcclComm::WaitEvent(cudaEvent_t event, const char* what, Clock::time_point deadline) {
  STRATA_ASSIGN_OR_RETURN(const bool done, PollEvent(event, what, deadline));
  if (done) return OkStatus();
  return Abort(Unavailable(std::string("NCCL: ") + what +
                           " timed out; the peer stage is stalled or gone"));
}

// ---- sender -----------------------------------------------------------------------------

StatusOr<std::unique_ptr<NcclSender>> NcclSender::Create(NcclComm& comm, int peer,
                                                         const LinkLimits& limits,
                                                         const LinkOptions& options) {
  STRATA_RETURN_IF_ERROR(ValidateLimits(limits));
  if (peer < 0 || peer >= comm.nranks() || peer == comm.rank() || options.max_in_flight <= 0) {
    return InvalidArgument("NCCL sender: peer rank " + to_string(peer) + " is not another rank of " +
                           to_string(comm.nranks()) + ", or max_in_flight is not positive");
  }
  STRATA_CUDA_CHECK(cudaSetDevice(comm.device()));
  std::unique_ptr<NcclSender> s(new NcclSender(comm, peer, limits, options));
  s->slots_.resize(static_cast<size_t>(options.max_in_flight));
  for (Slot& slot : s->slots_) {
    STRATA_ASSIGN_OR_RETURN(slot.host_header, PinnedAlloc(limits.max_header_bytes()));
    STRATA_ASSIGN_OR_RETURN(slot.device_header, DeviceAlloc(limits.max_header_bytes()));
    STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
  }
  STRATA_ASSIGN_OR_RETURN(s->device_text_, DeviceAlloc(kMaxErrorTextBytes));
  return s;
}

NcclSender::~NcclSender() {
  for (Slot& slot : slots_) {
    if (slot.pending) {
      // A send the peer never matches would block forever: past the timeout the
      // communicator is aborted, which ends it, before the buffers are freed.
      if (!Complete(slot).ok()) cudaEventSynchronize(slot.done);
    }
    if (slot.done != nullptr) cudaEventDestroy(slot.done);
    cudaFree(slot.device_header);
    cudaFreeHost(slot.host_header);
  }
  cudaFree(device_text_);
}

Status NcclSender::Complete(Slot& slot) {
  if (!slot.pending) return OkStatus();
  STRATA_RETURN_IF_ERROR(comm_.WaitEvent(slot.done, "sending activations",
                                         Clock::now() + options_.timeout));
  slot.pending = false;
  stats_.Record(slot.payload_bytes, Clock::now() - slot.sent_at);
  return OkStatus();
}

StatusOr<uint64_t> NcclSender::Send(const MessageHeader& header, const void* device_payload,
                                    cudaStream_t stream) {
  STRATA_RETURN_IF_ERROR(ValidateHeader(header, limits_));
  if (!comm_.failed().ok()) return comm_.failed();
  STRATA_CUDA_CHECK(cudaSetDevice(comm_.device()));
  Slot& slot = slots_[next_ticket_ % slots_.size()];
  STRATA_RETURN_IF_ERROR(Complete(slot));  // the slot's previous message
  // Fixed size on the wire: the receiver must know the size of what it receives.
  std::memset(slot.host_header, 0, limits_.max_header_bytes());
  EncodeHeader(header, std::span(slot.host_header, limits_.max_header_bytes()));
  STRATA_CUDA_CHECK(cudaMemcpyAsync(slot.device_header, slot.host_header,
                                    limits_.max_header_bytes(), cudaMemcpyHostToDevice, stream));
  const Clock::time_point deadline = Clock::now() + options_.timeout;
  STRATA_RETURN_IF_ERROR(comm_.Settle(ncclSend(slot.device_header, limits_.max_header_bytes(),
                                               ncclUint8, peer_, comm_.get(), stream),
                                      "sending a header", deadline));
  if (header.payload_bytes > 0) {
    STRATA_RETURN_IF_ERROR(comm_.Settle(ncclSend(device_payload, header.payload_bytes, ncclUint8,
                                                 peer_, comm_.get(), stream),
                                        "sending a payload", deadline));
  }
  STRATA_CUDA_CHECK(cudaEventRecord(slot.done, stream));
  slot.ticket = next_ticket_;
  slot.pending = true;
  slot.payload_bytes = header.payload_bytes;
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

Status NcclSender::SendShutdown(uint64_t step_id, cudaStream_t stream) {
  MessageHeader h;
  h.kind = MessageKind::kShutdown;
  h.step_id = step_id;
  STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, Send(h, nullptr, stream));
  return WaitSent(ticket);
}

Status NcclSender::SendError(uint64_t step_id, std::string_view text, cudaStream_t stream) {
  MessageHeader h;
  h.kind = MessageKind::kError;
  h.step_id = step_id;
  const std::string_view clipped = text.substr(0, kMaxErrorTextBytes);
  h.payload_bytes = clipped.size();
  // The text is pageable host memory: a synchronous copy, done before the send reads it.
  STRATA_CUDA_CHECK(cudaMemcpy(device_text_, clipped.data(), clipped.size(),
                               cudaMemcpyHostToDevice));
  STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, Send(h, device_text_, stream));
  return WaitSent(ticket);
}

// ---- receiver ---------------------------------------------------------------------------

StatusOr<std::unique_ptr<NcclReceiver>> NcclReceiver::Create(NcclComm& comm, int peer,
                                                             const LinkLimits& limits,
                                                             const LinkOptions& options,
                                                             std::span<std::byte> device_buffer) {
  STRATA_RETURN_IF_ERROR(CheckReceiveBuffer(device_buffer, limits));
  if (peer < 0 || peer >= comm.nranks() || peer == comm.rank()) {
    return InvalidArgument("NCCL receiver: peer rank " + to_string(peer) +
                           " is not another rank of " + to_string(comm.nranks()));
  }
  STRATA_CUDA_CHECK(cudaSetDevice(comm.device()));
  std::unique_ptr<NcclReceiver> r(new NcclReceiver(comm, peer, limits, options, device_buffer));
  STRATA_ASSIGN_OR_RETURN(r->device_header_, DeviceAlloc(limits.max_header_bytes()));
  STRATA_ASSIGN_OR_RETURN(r->host_header_, PinnedAlloc(limits.max_header_bytes()));
  STRATA_ASSIGN_OR_RETURN(r->host_text_, PinnedAlloc(kMaxErrorTextBytes));
  STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&r->header_done_, cudaEventDisableTiming));
  r->message_.header.seqs.reserve(static_cast<size_t>(limits.max_seqs));
  return r;
}

NcclReceiver::~NcclReceiver() {
  // A posted receive the peer never matches would block the stream forever: aborting the
  // communicator ends it.
  if (header_pending_) {
    static_cast<void>(comm_.Abort(Unavailable("NCCL receiver closed while waiting for a message")));
  }
  if (header_done_ != nullptr) {
    cudaEventSynchronize(header_done_);
    cudaEventDestroy(header_done_);
  }
  cudaFree(device_header_);
  cudaFreeHost(host_header_);
  cudaFreeHost(host_text_);
}

StatusOr<const ReceivedMessage*> NcclReceiver::Receive(cudaStream_t stream,
                                                       std::chrono::milliseconds timeout) {
  if (!failed_.ok()) return failed_;
  STRATA_CUDA_CHECK(cudaSetDevice(comm_.device()));
  const Clock::time_point start = Clock::now();
  const size_t header_bytes = limits_.max_header_bytes();
  if (!header_pending_) {
    // Posting waits for NCCL only while it is busy, bounded by the link's timeout.
    STRATA_RETURN_IF_ERROR(comm_.Settle(
        ncclRecv(device_header_, header_bytes, ncclUint8, peer_, comm_.get(), stream),
        "receiving a header", start + options_.timeout));
    STRATA_CUDA_CHECK(cudaMemcpyAsync(host_header_, device_header_, header_bytes,
                                      cudaMemcpyDeviceToHost, stream));
    STRATA_CUDA_CHECK(cudaEventRecord(header_done_, stream));
    header_pending_ = true;
  }
  STRATA_ASSIGN_OR_RETURN(const bool arrived,
                          comm_.PollEvent(header_done_, "waiting for a header", start + timeout));
  if (!arrived) {
    return DeadlineExceeded("NCCL link from rank " + to_string(peer_) + ": no message within " +
                            to_string(timeout.count()) + " ms");
  }
  header_pending_ = false;
  const Clock::time_point deadline = Clock::now() + options_.timeout;

  // The slice count sits in the fixed part; the decoder refuses counts beyond the limits.
  const uint32_t n_seqs = Le32(host_header_ + 28);
  const size_t used = n_seqs <= static_cast<uint32_t>(limits_.max_seqs)
                          ? kHeaderFixedBytes + kSeqSliceBytes * n_seqs
                          : header_bytes;
  const Status decoded =
      DecodeHeader(std::span(host_header_, used), limits_, &message_.header);
  if (!decoded.ok()) {
    failed_ = decoded.WithContext("NCCL link from rank " + to_string(peer_) +
                                  " (the link is closed: its payload cannot be skipped)");
    return failed_;
  }
  const uint64_t bytes = message_.header.payload_bytes;
  if (bytes > 0) {
    STRATA_RETURN_IF_ERROR(comm_.Settle(
        ncclRecv(buffer_.data(), bytes, ncclUint8, peer_, comm_.get(), stream),
        "receiving a payload", deadline));
  }
  if (message_.header.kind == MessageKind::kError) {
    STRATA_CUDA_CHECK(cudaMemcpyAsync(host_text_, buffer_.data(), bytes, cudaMemcpyDeviceToHost,
                                      stream));
    STRATA_CUDA_CHECK(cudaEventRecord(header_done_, stream));
    STRATA_RETURN_IF_ERROR(comm_.WaitEvent(header_done_, "receiving an error text", deadline));
    message_.payload = std::span<const std::byte>(host_text_, bytes);
  } else {
    message_.payload = buffer_.first(bytes);
  }
  stats_.Record(bytes, Clock::now() - start);
  return &message_;
}

}  // namespace strata::transport
