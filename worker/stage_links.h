// The data-plane ends of a pipeline stage, whatever the transport: the input link from the
// previous stage and the output link to the next.
//   ucx:  activations in pinned host memory; the engine copies them to and from the GPU
//         (Debian's UCX has no CUDA transport). Works between any two hosts.
//   nccl: activations in device memory, ordered with the backend's compute stream; NCCL moves
//         them GPU to GPU (NVLink, PCIe, InfiniBand/RoCE or its socket transport), so they
//         never pass through host memory. Each stage needs a GPU of its own.
// Set-up takes two steps because both ends of a link must exist before either can join it:
// Create* when the assignment arrives (the input end names its address: "host:port" for UCX,
// "nccl:<unique id>" for NCCL, made in this process), then Open when the coordinator says
// Connect (the input end joins its link, the output end connects to the next stage's
// address; for NCCL both sides of a link must Open at once, within the link timeout).
// Buffers: allocated once at Create — one receive buffer, two send buffers (one can be in
// flight while the next step computes), each (max_rows, hidden) activations.
// Thread-safety: Create and Open on one thread before the compute thread starts; then each
// link is used by the compute thread alone; stats() from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/backend/backend.h"
#include "common/engine/llama_model.h"
#include "common/transport/transport.h"

namespace strata::worker {

struct LinkSettings {
  std::string transport = "ucx";            // "ucx" or "nccl"
  std::string bind_host = "0.0.0.0";        // ucx: where the receiver listens
  uint16_t port = 0;                        // ucx: 0 = any free port
  std::string advertised_host = "127.0.0.1";  // ucx: what the previous stage connects to
  std::chrono::milliseconds timeout{10000};   // connecting, joining, a send's completion
};

class InputLink {
 public:
  virtual ~InputLink() = default;
  // What the previous stage's OutputLink::Open takes.
  virtual const std::string& address() const = 0;
  virtual ActivationMemory memory() const = 0;
  virtual Status Open() = 0;
  // The next message from the previous stage; an activations payload is in memory() (on the
  // device: ready for work issued to the compute stream afterwards). kDeadlineExceeded on a
  // quiet link, kUnavailable when the previous stage was lost.
  virtual StatusOr<const transport::ReceivedMessage*> Receive(std::chrono::milliseconds timeout) = 0;
  // The compute stream has been given all the work that reads the last payload; the buffer
  // is refilled only after that work.
  virtual void Consumed() = 0;
  virtual transport::HopStats stats() const = 0;
};

class OutputLink {
 public:
  virtual ~OutputLink() = default;
  virtual ActivationMemory memory() const = 0;
  virtual Status Open(const std::string& next_address) = 0;
  // A buffer (max_rows, hidden) for the next step's output that no earlier send still reads.
  virtual StatusOr<float*> NextBuffer() = 0;
  // Sends `buffer` (the last NextBuffer) once the work issued to the compute stream so far
  // has written it; does not wait for the send.
  virtual Status Send(const transport::MessageHeader& header, float* buffer) = 0;
  virtual transport::HopStats stats() const = 0;
};

// An output link's two send buffers, used in turn: one can be on the wire while the next step
// writes the other. A buffer is handed out again only after the message that read it left.
class SendBuffers {
 public:
  DeviceBuffer& buffer(int i) { return buffers_[i]; }
  // The buffer for the next output, once `wait_sent(ticket)` returned OK for the message
  // last sent from it.
  template <typename WaitSent>
  StatusOr<float*> Next(WaitSent&& wait_sent) {
    if (tickets_[next_]) {
      STRATA_RETURN_IF_ERROR(wait_sent(*tickets_[next_]));
      tickets_[next_].reset();
    }
    return reinterpret_cast<float*>(buffers_[next_].get());
  }
  int current() const { return next_; }  // the buffer Next hands out
  // The current buffer is read by message `ticket`; the other one is next.
  void Sent(uint64_t ticket) {
    tickets_[next_] = ticket;
    next_ ^= 1;
  }

 private:
  DeviceBuffer buffers_[2];             // (max_rows, hidden) each, allocated by the link
  std::optional<uint64_t> tickets_[2];  // the message reading each buffer, if any
  int next_ = 0;
};

// Errors: an unknown transport or one this build lacks (kUnimplemented, naming what to use),
// the transport's own (listening, allocating, a backend without a GPU for nccl).
StatusOr<std::unique_ptr<InputLink>> CreateInputLink(Backend& backend,
                                                     const transport::LinkLimits& limits,
                                                     const LinkSettings& settings);
StatusOr<std::unique_ptr<OutputLink>> CreateOutputLink(Backend& backend,
                                                       const transport::LinkLimits& limits,
                                                       const LinkSettings& settings);

}  // namespace strata::worker
