// NcclComm and the unique id's text form (see nccl_comm.h).
#include "common/transport/nccl/nccl_comm.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <thread>

#include "common/backend/device_check.h"
#include "common/util/hex.h"

namespace strata::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::to_string;

// Host waits poll; the sleep between polls grows to this bound (plus the kernel's timer
// slack, about 50 µs): how late an arrived message may be noticed, against a few percent of
// a core while a link is idle.
constexpr auto kMaxPollSleep = std::chrono::microseconds(20);

std::string NcclError(ncclResult_t r) { return ncclGetErrorString(r); }

}  // namespace

// ---- ids --------------------------------------------------------------------------------

std::string NcclUniqueIdToHex(const ncclUniqueId& id) {
  return HexString(std::as_bytes(std::span(id.internal)));
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

// ---- joining ----------------------------------------------------------------------------

StatusOr<std::unique_ptr<NcclComm>> NcclComm::Join(Backend& backend, std::string_view id_hex,
                                                   int rank, BackendStream& stream,
                                                   std::byte* scratch,
                                                   std::chrono::milliseconds timeout) {
  STRATA_ASSIGN_OR_RETURN(ncclUniqueId id, NcclUniqueIdFromHex(id_hex));
  std::unique_ptr<NcclComm> c(new NcclComm(backend, rank));
  c->device_ = backend.caps().device;
  STRATA_CUDA_CHECK(cudaSetDevice(c->device_));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t r = ncclCommInitRankConfig(&c->comm_, 2, id, rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    c->comm_ = nullptr;
    return Unavailable("ncclCommInitRankConfig (rank " + to_string(rank) + " of 2): " +
                       NcclError(r) + (r == ncclInvalidUsage ? " (two ranks on one GPU?)" : ""));
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  STRATA_RETURN_IF_ERROR(c->Settle(r, "joining the NCCL communicator", deadline));
  STRATA_RETURN_IF_ERROR(c->ConnectPeer(stream, scratch, deadline));
  return c;
}

Status NcclComm::ConnectPeer(BackendStream& stream, std::byte* scratch,
                             Clock::time_point deadline) {
  const auto native = static_cast<cudaStream_t>(stream.native());
  ncclResult_t r = ncclGroupStart();
  if (r == ncclSuccess || r == ncclInProgress) {
    r = ncclSend(scratch + rank_, 1, ncclUint8, peer(), comm_, native);
  }
  if (r == ncclSuccess || r == ncclInProgress) {
    r = ncclRecv(scratch + peer(), 1, ncclUint8, peer(), comm_, native);
  }
  const ncclResult_t end = ncclGroupEnd();
  STRATA_RETURN_IF_ERROR(Settle(r == ncclSuccess || r == ncclInProgress ? end : r,
                                "connecting the peer ranks", deadline));
  return Wait(
      [native] {
        const cudaError_t e = cudaStreamQuery(native);
        if (e == cudaErrorNotReady) return false;
        STRATA_CUDA_CHECK(e);
        return true;
      },
      "connecting the peer ranks", deadline);
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

// ---- bounded waits ----------------------------------------------------------------------

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

template <typename Done>
StatusOr<bool> NcclComm::Poll(Done&& done, const char* what, Clock::time_point deadline) {
  if (!failed_.ok()) return failed_;
  auto sleep = std::chrono::microseconds(1);
  for (;;) {
    if (done()) return true;
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

StatusOr<bool> NcclComm::PollEvent(BackendEvent& event, const char* what,
                                   Clock::time_point deadline) {
  return Poll([&] { return backend_.EventDone(event); }, what, deadline);
}

template <typename Done>
Status NcclComm::Wait(Done&& done, const char* what, Clock::time_point deadline) {
  STRATA_ASSIGN_OR_RETURN(const bool finished, Poll(std::forward<Done>(done), what, deadline));
  if (finished) return OkStatus();
  return Abort(Unavailable(std::string("NCCL: ") + what +
                           " timed out; the peer stage is stalled or gone"));
}

Status NcclComm::WaitEvent(BackendEvent& event, const char* what, Clock::time_point deadline) {
  return Wait([&] { return backend_.EventDone(event); }, what, deadline);
}

}  // namespace strata::transport
