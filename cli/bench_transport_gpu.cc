// RunGpuHop (see bench_transport_gpu.h).
#include "cli/bench_transport_gpu.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "common/backend/device_check.h"
#include "common/transport/nccl/nccl_transport.h"
#include "common/transport/ucx/ucx_transport.h"

namespace strata::cli {
namespace {

using namespace strata::transport;
using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(30);

// Memory of one side, freed with it.
struct DeviceMemory {
  void* p = nullptr;
  DeviceMemory(int device, size_t bytes) {
    STRATA_CUDA_CHECK(cudaSetDevice(device));
    STRATA_CUDA_CHECK(cudaMalloc(&p, bytes));
  }
  ~DeviceMemory() { cudaFree(p); }
  std::byte* get() const { return static_cast<std::byte*>(p); }
};
struct PinnedMemory {
  void* p = nullptr;
  explicit PinnedMemory(size_t bytes) {
    STRATA_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocPortable));  // pinned for both GPUs
  }
  ~PinnedMemory() { cudaFreeHost(p); }
  std::byte* get() const { return static_cast<std::byte*>(p); }
};
struct CudaStream {
  cudaStream_t s = nullptr;
  explicit CudaStream(int device) {
    STRATA_CUDA_CHECK(cudaSetDevice(device));
    STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  ~CudaStream() { cudaStreamDestroy(s); }
};

// One side's move of a message to the other, and its wait for the one coming back.
struct Side {
  std::function<Status(const MessageHeader&, const std::byte* device_payload)> send;
  std::function<StatusOr<const ReceivedMessage*>()> receive;  // payload left in device memory
};

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

// One rank's side of an NCCL ping-pong on `comm`: sends and receives on one stream; a receive
// returns once the payload is in device memory. Each call makes the rank's GPU current.
struct NcclSide {
  std::unique_ptr<NcclSender> sender;
  std::unique_ptr<NcclReceiver> receiver;
  Side side;
};

StatusOr<NcclSide> MakeNcclSide(NcclComm& comm, const LinkLimits& limits, cudaStream_t stream,
                                std::byte* receive_buffer) {
  const int device = comm.device();
  LinkOptions options;
  options.timeout = kTimeout;
  NcclSide s;
  const int peer = 1 - comm.rank();
  STRATA_ASSIGN_OR_RETURN(s.sender, NcclSender::Create(comm, peer, limits, options));
  STRATA_ASSIGN_OR_RETURN(
      s.receiver, NcclReceiver::Create(comm, peer, limits, options,
                                       std::span(receive_buffer, limits.max_payload_bytes())));
  NcclSender* sender = s.sender.get();
  NcclReceiver* receiver = s.receiver.get();
  s.side.send = [sender, stream, device](const MessageHeader& h,
                                         const std::byte* payload) -> Status {
    STRATA_CUDA_CHECK(cudaSetDevice(device));
    STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, sender->Send(h, payload, stream));
    return sender->WaitSent(ticket);
  };
  s.side.receive = [receiver, stream, device]() -> StatusOr<const ReceivedMessage*> {
    STRATA_CUDA_CHECK(cudaSetDevice(device));
    STRATA_ASSIGN_OR_RETURN(const ReceivedMessage* m, receiver->Receive(stream, kTimeout));
    STRATA_CUDA_CHECK(cudaStreamSynchronize(stream));
    return m;
  };
  return s;
}

StatusOr<std::vector<double>> RunNccl(const GpuHopOptions& o, const LinkLimits& limits,
                                      const std::byte* a_payload, std::byte* a_buffer,
                                      std::byte* b_buffer) {
  STRATA_ASSIGN_OR_RETURN(const std::string id, CreateNcclUniqueIdHex());
  StatusOr<std::unique_ptr<NcclComm>> comm_b = Internal("not joined");
  std::thread join_b([&] { comm_b = NcclComm::Init(id, 2, 1, o.device_b, kTimeout); });
  StatusOr<std::unique_ptr<NcclComm>> comm_a = NcclComm::Init(id, 2, 0, o.device_a, kTimeout);
  join_b.join();
  STRATA_RETURN_IF_ERROR(comm_a.status());
  STRATA_RETURN_IF_ERROR(comm_b.status());
  CudaStream stream_a(o.device_a), stream_b(o.device_b);
  STRATA_ASSIGN_OR_RETURN(NcclSide a, MakeNcclSide(**comm_a, limits, stream_a.s, a_buffer));
  STRATA_ASSIGN_OR_RETURN(NcclSide b, MakeNcclSide(**comm_b, limits, stream_b.s, b_buffer));
  return PingPong(o, limits, a.side, a_payload, b.side);
}

// Side of a staged ping-pong: device -> pinned -> UCX -> pinned -> device, as a ucx worker.
struct StagedSide {
  std::unique_ptr<PinnedMemory> send_stage, receive_stage;
  std::unique_ptr<ActivationSender> sender;
  std::unique_ptr<ActivationReceiver> receiver;
  ReceivedMessage on_device;  // the last message, its payload in the side's device buffer
  Side side;
};

StatusOr<std::vector<double>> RunUcxStaged(const GpuHopOptions& o, const LinkLimits& limits,
                                           const std::byte* a_payload, std::byte* a_buffer,
                                           std::byte* b_buffer) {
  const size_t bytes = limits.max_payload_bytes();
  LinkOptions options;
  options.timeout = kTimeout;
  StagedSide sides[2];
  for (StagedSide& s : sides) {
    s.send_stage = std::make_unique<PinnedMemory>(bytes);
    s.receive_stage = std::make_unique<PinnedMemory>(bytes);
  }
  // sides[0] = a receives from b, sides[1] = b receives from a.
  for (int i = 0; i < 2; ++i) {
    STRATA_ASSIGN_OR_RETURN(
        UcxListening listening,
        ListenUcx("127.0.0.1:0", limits, options, std::span(sides[i].receive_stage->get(), bytes)));
    sides[i].receiver = std::move(listening.receiver);
    STRATA_ASSIGN_OR_RETURN(sides[1 - i].sender,
                            ConnectUcx("127.0.0.1:" + std::to_string(listening.port), limits,
                                       options));
  }
  const int devices[2] = {o.device_a, o.device_b};
  std::byte* buffers[2] = {a_buffer, b_buffer};
  for (int i = 0; i < 2; ++i) {
    StagedSide* s = &sides[i];
    const int device = devices[i];
    std::byte* device_buffer = buffers[i];
    s->side.send = [s, device](const MessageHeader& h, const std::byte* payload) -> Status {
      STRATA_CUDA_CHECK(cudaSetDevice(device));
      STRATA_CUDA_CHECK(cudaMemcpy(s->send_stage->get(), payload, h.payload_bytes,
                                   cudaMemcpyDeviceToHost));
      STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, s->sender->Send(h, s->send_stage->get()));
      return s->sender->WaitSent(ticket);
    };
    s->side.receive = [s, device, device_buffer]() -> StatusOr<const ReceivedMessage*> {
      STRATA_ASSIGN_OR_RETURN(const ReceivedMessage* m, s->receiver->Receive(kTimeout));
      STRATA_CUDA_CHECK(cudaSetDevice(device));
      STRATA_CUDA_CHECK(cudaMemcpy(device_buffer, m->payload.data(), m->payload.size(),
                                   cudaMemcpyHostToDevice));
      s->on_device.header = m->header;
      s->on_device.payload = std::span<const std::byte>(device_buffer, m->payload.size());
      return &s->on_device;
    };
  }
  return PingPong(o, limits, sides[0].side, a_payload, sides[1].side);
}

// The ceiling: a direct copy of `bytes` from a to b, mean over `iters`.
double PeerCopyUs(const GpuHopOptions& o, const std::byte* src, std::byte* dst, size_t bytes) {
  CudaStream stream(o.device_a);
  cudaEvent_t start = nullptr, end = nullptr;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&end));
  for (int i = 0; i < o.warmup; ++i) {
    STRATA_CUDA_CHECK(cudaMemcpyPeerAsync(dst, o.device_b, src, o.device_a, bytes, stream.s));
  }
  STRATA_CUDA_CHECK(cudaEventRecord(start, stream.s));
  for (int i = 0; i < o.iters; ++i) {
    STRATA_CUDA_CHECK(cudaMemcpyPeerAsync(dst, o.device_b, src, o.device_a, bytes, stream.s));
  }
  STRATA_CUDA_CHECK(cudaEventRecord(end, stream.s));
  STRATA_CUDA_CHECK(cudaEventSynchronize(end));
  float ms = 0;
  STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return 1e3 * ms / o.iters;
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
  const int visible = VisibleCudaDevices();
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
  DeviceMemory a_payload(o.device_a, limits.max_payload_bytes());
  DeviceMemory a_buffer(o.device_a, limits.max_payload_bytes());
  DeviceMemory b_buffer(o.device_b, limits.max_payload_bytes());
  STRATA_CUDA_CHECK(cudaSetDevice(o.device_a));
  STRATA_CUDA_CHECK(cudaMemcpy(a_payload.get(), payload.data(), bytes, cudaMemcpyHostToDevice));
  STRATA_ASSIGN_OR_RETURN(
      r.one_way_us,
      o.transport == "nccl" ? RunNccl(o, limits, a_payload.get(), a_buffer.get(), b_buffer.get())
                            : RunUcxStaged(o, limits, a_payload.get(), a_buffer.get(), b_buffer.get()));
  std::vector<std::byte> back(bytes);
  STRATA_CUDA_CHECK(cudaSetDevice(o.device_a));
  STRATA_CUDA_CHECK(cudaMemcpy(back.data(), a_buffer.get(), bytes, cudaMemcpyDeviceToHost));
  r.verified = back == payload;
  r.peer_copy_us = PeerCopyUs(o, a_payload.get(), b_buffer.get(), bytes);
  return r;
}

}  // namespace strata::cli
