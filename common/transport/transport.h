// The data-plane interface: links that carry activation messages from one pipeline stage to
// the next. A Transport makes the two ends of a link: the receiving stage Listens (its
// address reaches the sending stage over the control plane), the sending stage Connects to
// that address while the receiving one Opens. Stage i holds the ActivationSender of its link
// to stage i+1, which holds the matching ActivationReceiver. Implementations: loopback/
// (in-process), ucx/ (host memory over UCX), nccl/ (device memory, GPU to GPU).
//
// Memory (Transport::memory(), the link's capability): kHost links read and write host memory
// (pinned in the worker). kDevice links read and write the backend's device memory in order
// with its compute stream: Send sends the payload once the work issued to the compute stream
// before it has written it, without waiting; a received payload is ready for work issued to
// the compute stream after Receive.
// Buffers: the sender borrows the payload from Send until WaitSent of its ticket returned; the
// receiver writes every payload into the one buffer given to Listen (LinkLimits::
// max_payload_bytes of the link's memory), and a received message is valid until the next
// Receive (on kDevice links, the buffer is refilled only after the work issued before
// Consumed). Nothing is allocated per message.
// Ordering: messages arrive in the order they were sent; up to LinkOptions::max_in_flight are
// in flight at once. Errors: a lost peer, a timeout or a malformed message is a Status
// (kUnavailable, kDeadlineExceeded, kDataLoss, kInvalidArgument, kUnimplemented); no call
// blocks longer than its timeout.
// Thread-safety: a Transport makes one end at a time, but a receiver may Open on one thread
// while its transport Connects on another; one thread sends on a sender and one thread
// receives on a receiver at a time (they may be different threads); stats() may be called
// from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/backend/activation_memory.h"
#include "common/backend/backend.h"
#include "common/transport/message.h"
#include "common/util/status.h"

namespace strata::transport {

struct LinkOptions {
  // Longest a connect or join, a Send waiting for an in-flight slot, or a WaitSent may block.
  std::chrono::milliseconds timeout{30000};
  int max_in_flight = 4;  // messages a sender may have outstanding (pipeline depth)
};

// Per-hop counters a worker exports. Sender: one entry per message, from Send to its
// completion (the payload has left the buffer). Receiver: one entry per message, the time
// Receive blocked (waiting for and receiving it).
struct HopStats {
  uint64_t messages = 0;
  uint64_t payload_bytes = 0;
  double seconds_total = 0;
  double seconds_max = 0;
  double seconds_last = 0;
};

// Accumulates HopStats; safe to record from one thread and read from others.
class HopRecorder {
 public:
  void Record(uint64_t payload_bytes, std::chrono::steady_clock::duration elapsed);
  HopStats Snapshot() const;

 private:
  mutable std::mutex mu_;
  HopStats stats_;
};

struct ReceivedMessage {
  MessageHeader header;
  // header.payload_bytes in the receive buffer; an error message's text is always in host
  // memory.
  std::span<const std::byte> payload;

  std::string_view error_text() const {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

class ActivationSender {
 public:
  virtual ~ActivationSender() = default;

  // Starts sending one message and returns its ticket (0, 1, 2, ... on this link). The
  // `payload` (header.payload_bytes, in the link's memory) must stay untouched until
  // WaitSent(ticket) returned OK. Blocks (up to the link timeout) while max_in_flight
  // messages are outstanding.
  StatusOr<uint64_t> Send(const MessageHeader& header, const void* payload);
  // Start a shutdown or an error message (the text, clipped to kMaxErrorTextBytes, is
  // copied: nothing need stay untouched) and return its ticket.
  StatusOr<uint64_t> SendShutdown(uint64_t step_id);
  StatusOr<uint64_t> SendError(uint64_t step_id, std::string_view text);

  // Sends an already encoded header as it is, with `payload_bytes` of payload: the path
  // under Send, public for relays and for tests that inject malformed frames.
  virtual StatusOr<uint64_t> SendEncoded(std::span<const std::byte> header_bytes,
                                         const void* payload, size_t payload_bytes) = 0;
  // Blocks until message `ticket` and every one before it completed (their payloads may be
  // reused; on loopback: the receiver has copied them); kUnavailable when the peer was lost
  // or the link timeout passed.
  virtual Status WaitSent(uint64_t ticket) = 0;
  virtual HopStats stats() const = 0;

 protected:
  explicit ActivationSender(const LinkLimits& limits);
  const LinkLimits& limits() const { return limits_; }
  // Copies an error message's text (at most kMaxErrorTextBytes) to where the link sends it
  // from and returns that place; no earlier error message still reads it. Host memory here.
  virtual StatusOr<const void*> StageErrorText(std::string_view text);

 private:
  LinkLimits limits_;
  std::vector<std::byte> encoded_;        // (max_header_bytes) scratch for Send
  std::vector<char> error_text_;          // (kMaxErrorTextBytes) the last error's text
  std::optional<uint64_t> error_ticket_;  // the message that reads the staged text
};

class ActivationReceiver {
 public:
  virtual ~ActivationReceiver() = default;

  // Joins the link: the receiving half of the sender's Connect, which must run at the same
  // time where a link's ends join together (NCCL; within the link timeout). Where the sender
  // is accepted in the background (UCX, loopback) there is nothing to do.
  virtual Status Open() { return OkStatus(); }
  // Waits up to `timeout` for the next message and returns it, its payload in the receive
  // buffer. A malformed message returns an error and is consumed: the next Receive gets the
  // message after it (NCCL, which cannot skip a payload, fails the link instead).
  // kUnavailable when the peer was lost (after every message it sent completely was
  // delivered); kDeadlineExceeded when nothing arrived within `timeout` (a quiet link: the
  // next Receive goes on waiting for the same message).
  virtual StatusOr<const ReceivedMessage*> Receive(std::chrono::milliseconds timeout) = 0;
  // kDevice links: all the work that reads the last payload has been issued to the compute
  // stream; the next payload is written after that work. kHost links: nothing to do (the
  // host has read it before it calls Receive again).
  virtual void Consumed() {}
  virtual HopStats stats() const = 0;
};

// A receiving end and the address its sender connects to.
struct Listening {
  std::unique_ptr<ActivationReceiver> receiver;
  std::string address;  // what the sending stage's Transport::Connect takes
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Where this transport's payloads are (see the header comment).
  virtual ActivationMemory memory() const = 0;
  // A new link's receiving end, writing into `buffer` (limits.max_payload_bytes() of
  // memory(), outliving the receiver). Errors: a buffer smaller than the limits
  // (kInvalidArgument), the transport's (a port in use, no device memory).
  virtual StatusOr<Listening> Listen(const LinkLimits& limits, std::span<std::byte> buffer) = 0;
  // The sending end of the link whose receiver listens at `address`, with the same limits;
  // returns once the link is joined (NCCL: once the receiver has Opened), or kUnavailable
  // within the link timeout.
  virtual StatusOr<std::unique_ptr<ActivationSender>> Connect(std::string_view address,
                                                              const LinkLimits& limits) = 0;
};

// `bytes` of `memory` from `backend`, for a link's payloads: pinned host memory (plain host
// memory where the backend does not pin) or device memory.
StatusOr<DeviceBuffer> AllocateLinkBuffer(Backend& backend, ActivationMemory memory, size_t bytes);

// The checks every transport makes of what it is given.
Status CheckReceiveBuffer(std::span<std::byte> buffer, const LinkLimits& limits);
Status CheckOptions(const LinkOptions& options);

}  // namespace strata::transport
