// RunGpuHop (see bench_transport_gpu.h): one CUDA backend per GPU, the links of the
// transport under test between them, and the ceiling's direct copy.
#include "cli/bench_transport_gpu.h"

#include <cuda_runtime.h>

#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "common/backend/backend_factory.h"
#include "common/backend/device_check.h"
#include "common/transport/local_link.h"
#include "common/transport/nccl/nccl_transport.h"
#include "common/transport/ucx/ucx_transport.h"
#include "common/util/secret.h"

namespace strata::cli {
namespace {

using namespace strata::transport;
using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(30);

// One GPU's end of the ping-pong: its backend, its transport, and its move of a message to
// the other side and its wait for the one coming back.
struct Side {
  int device = 0;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Transport> transport;
  DeviceBuffer receive_buffer;  // (max_payload_bytes) in the transport's memory
  DeviceBuffer staged_send;     // ucx-staged: (max_payload_bytes) pinned, the payload sent
  DeviceBuffer arrived;         // (max_payload_bytes) device: where a received payload is
  std::unique_ptr<ActivationSender> sender;      // to the other side
  std::unique_ptr<ActivationReceiver> receiver;  // from the other side
  ReceivedMessage on_device;  // ucx-staged: the last message, its payload in `arrived`
  std::function<Status(const MessageHeader&, const std::byte* device_payload)> send;
  std::function<StatusOr<const ReceivedMessage*>()> receive;  // payload in `arrived`
};

// `token`: the UCX links' (one for both sides).
Status MakeSide(const GpuHopOptions& o, int device, const LinkLimits& limits,
                const std::string& token, Side& s) {
  s.device = device;
  STRATA_ASSIGN_OR_RETURN(s.backend, CreateBackend("cuda:" + std::to_string(device)));
  LinkOptions options;
  options.timeout = kTimeout;
  if (o.transport == "nccl") {
    STRATA_ASSIGN_OR_RETURN(s.transport, CreateNcclTransport(*s.backend, options));
  } else {
    s.transport = CreateUcxTransport({"127.0.0.1", 0, "127.0.0.1", token}, options);
  }
  const size_t bytes = limits.max_payload_bytes();
  STRATA_ASSIGN_OR_RETURN(s.receive_buffer,
                          AllocateLinkBuffer(*s.backend, s.transport->memory(), bytes));
  if (s.transport->memory() == ActivationMemory::kDevice) return OkStatus();
  STRATA_ASSIGN_OR_RETURN(s.staged_send, s.backend->AllocatePinned(bytes));
  STRATA_ASSIGN_OR_RETURN(s.arrived, s.backend->Allocate(bytes));
  return OkStatus();
}

// The side's send and receive: NCCL moves device memory itself; ucx-staged copies to pinned
// host memory before the send and from it after the receive, as a ucx worker does.
void BindSide(Side& s) {
  Side* side = &s;
  if (s.transport->memory() == ActivationMemory::kDevice) {
    s.send = [side](const MessageHeader& h, const std::byte* payload) -> Status {
      STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, side->sender->Send(h, payload));
      return side->sender->WaitSent(ticket);
    };
    s.receive = [side]() -> StatusOr<const ReceivedMessage*> {
      STRATA_ASSIGN_OR_RETURN(const ReceivedMessage* m, side->receiver->Receive(kTimeout));
      side->backend->Synchronize();  // the compute stream waited for the payload
      side->receiver->Consumed();
      return m;
    };
    return;
  }
  s.send = [side](const MessageHeader& h, const std::byte* payload) -> Status {
    side->backend->CopyToHost(side->staged_send.get(), payload, h.payload_bytes);
    STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, side->sender->Send(h, side->staged_send.get()));
    return side->sender->WaitSent(ticket);
  };
  s.receive = [side]() -> StatusOr<const ReceivedMessage*> {
    STRATA_ASSIGN_OR_RETURN(const ReceivedMessage* m, side->receiver->Receive(kTimeout));
    side->backend->CopyToDevice(side->arrived.get(), m->payload.data(), m->payload.size());
    side->on_device.header = m->header;
    side->on_device.payload = std::span<const std::byte>(side->arrived.get(), m->payload.size());
    return &side->on_device;
  };
}

// Where a side's received payloads are in device memory.
std::byte* Arrived(const Side& s) {
  return s.arrived != nullptr ? s.arrived.get() : s.receive_buffer.get();
}

// The ping-pong: side a sends and times until the echo is back in its device memory.
StatusOr<std::vector<double>> PingPong(const GpuHopOptions& o, const LinkLimits& limits,
                                       Side& a, const std::byte* a_payload, Side& b) {
  const int total = o.warmup + o.iters;
  Status echo_status;
  std::thread echo([&] {
    for (int i = 0; i < total && echo_status.ok(); ++i) {
      StatusOr<const ReceivedMessage*> m = b.receive();
      echo_status = m.ok() ? b.send((*m)->header, (*m)->payload.data()) : m.status();
    }
  });
  const MessageHeader header = ActivationsHeader(limits, 0, {{7, 0, o.rows}});
  std::vector<double> one_way_us;
  Status status;
  for (int i = 0; i < total && status.ok(); ++i) {
    const Clock::time_point t0 = Clock::now();
    status = a.send(header, a_payload);
    if (!status.ok()) break;
    StatusOr<const ReceivedMessage*> m = a.receive();
    if (!m.ok()) {
      status = m.status();
      break;
    }
    if (i >= o.warmup) {
      one_way_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / 2);
    }
  }
  echo.join();
  STRATA_RETURN_IF_ERROR(status);
  STRATA_RETURN_IF_ERROR(echo_status);
  return one_way_us;
}

// The ceiling: a direct copy of `bytes` from a to b on a stream of a's, mean over `iters`.
double PeerCopyUs(const GpuHopOptions& o, Side& a, const std::byte* src, std::byte* dst,
                  size_t bytes) {
  const std::unique_ptr<BackendStream> stream = a.backend->CreateStream();
  const auto native = static_cast<cudaStream_t>(stream->native());
  const std::unique_ptr<BackendEvent> start = a.backend->CreateEvent();
  const std::unique_ptr<BackendEvent> end = a.backend->CreateEvent();
  for (int i = 0; i < o.warmup; ++i) {
    STRATA_CUDA_CHECK(cudaMemcpyPeerAsync(dst, o.device_b, src, o.device_a, bytes, native));
  }
  stream->Record(*start);
  for (int i = 0; i < o.iters; ++i) {
    STRATA_CUDA_CHECK(cudaMemcpyPeerAsync(dst, o.device_b, src, o.device_a, bytes, native));
  }
  stream->Record(*end);
  a.backend->WaitEvent(*end);
  return 1e3 * a.backend->ElapsedMs(*start, *end) / o.iters;
}

bool EnablePeerAccess(int from, int to) {
  int can = 0;
  if (cudaDeviceCanAccessPeer(&can, from, to) != cudaSuccess || can == 0) return false;
  STRATA_CUDA_CHECK(cudaSetDevice(from));
  const cudaError_t e = cudaDeviceEnablePeerAccess(to, 0);
  if (e == cudaErrorPeerAccessAlreadyEnabled) cudaGetLastError();
  return e == cudaSuccess || e == cudaErrorPeerAccessAlreadyEnabled;
}

}  // namespace

StatusOr<GpuHopResult> RunGpuHop(const GpuHopOptions& o) {
  if (o.transport != "nccl" && o.transport != "ucx-staged") {
    return InvalidArgument("GPU hop transport must be nccl or ucx-staged, not " + o.transport);
  }
  int visible = 0;
  if (cudaGetDeviceCount(&visible) != cudaSuccess) {
    cudaGetLastError();
    visible = 0;
  }
  if (visible < 2 || o.device_a == o.device_b || o.device_a < 0 || o.device_b < 0 ||
      o.device_a >= visible || o.device_b >= visible) {
    return FailedPrecondition("--transport " + o.transport + " needs two different GPUs; this "
                              "machine shows " + std::to_string(visible));
  }
  const LinkLimits limits{o.rows, o.cols, o.dtype, 1};
  const size_t bytes = static_cast<size_t>(o.rows) * static_cast<size_t>(o.cols) * DtypeBytes(o.dtype);
  std::vector<std::byte> payload(bytes);  // (rows, cols) random activations
  std::mt19937_64 rng(42);
  for (std::byte& b : payload) b = static_cast<std::byte>(rng());

  GpuHopResult r;
  r.peer_access = EnablePeerAccess(o.device_a, o.device_b) && EnablePeerAccess(o.device_b, o.device_a);
  Side a, b;
  const std::string token = RandomSecret();
  STRATA_RETURN_IF_ERROR(MakeSide(o, o.device_a, limits, token, a));
  STRATA_RETURN_IF_ERROR(MakeSide(o, o.device_b, limits, token, b));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer a_payload, a.backend->Allocate(limits.max_payload_bytes()));
  a.backend->CopyToDevice(a_payload.get(), payload.data(), bytes);
  const size_t buffer_bytes = limits.max_payload_bytes();
  STRATA_ASSIGN_OR_RETURN(
      LocalLink forward, ConnectLocalLink(*a.transport, *b.transport, limits,
                                          std::span(b.receive_buffer.get(), buffer_bytes)));
  STRATA_ASSIGN_OR_RETURN(
      LocalLink back, ConnectLocalLink(*b.transport, *a.transport, limits,
                                       std::span(a.receive_buffer.get(), buffer_bytes)));
  a.sender = std::move(forward.sender);
  b.receiver = std::move(forward.receiver);
  b.sender = std::move(back.sender);
  a.receiver = std::move(back.receiver);
  BindSide(a);
  BindSide(b);
  STRATA_ASSIGN_OR_RETURN(r.one_way_us, PingPong(o, limits, a, a_payload.get(), b));
  std::vector<std::byte> echoed(bytes);
  a.backend->CopyToHost(echoed.data(), Arrived(a), bytes);
  r.verified = echoed == payload;
  r.peer_copy_us = PeerCopyUs(o, a, a_payload.get(), Arrived(b), bytes);
  return r;
}

}  // namespace strata::cli
