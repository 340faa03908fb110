// The data-plane interface: one direction of one link between two pipeline stages. Stage i
// holds an ActivationSender to stage i+1, which holds the matching ActivationReceiver.
// Implementations: loopback/ (in-process), ucx/ (host memory over UCX), and nccl/ (device
// memory, its own device-side signatures).
//
// Buffers: the sender's payload (pinned host memory in the worker) is borrowed from Send
// until WaitSent of its ticket returned; the receiver writes every payload into the one
// buffer its creator allocated at setup (LinkLimits::max_payload_bytes), and a received
// message is valid until the next Receive. Nothing is allocated per message.
// Ordering: messages arrive in the order they were sent; up to LinkOptions::max_in_flight are
// in flight at once. Errors: a lost peer, a timeout or a malformed message is a Status
// (kUnavailable, kDeadlineExceeded, kDataLoss, kInvalidArgument, kUnimplemented); no call
// blocks longer than its timeout.
// Thread-safety: one thread sends on a sender and one thread receives on a receiver at a
// time (they may be different threads); stats() may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/transport/message.h"
#include "common/util/status.h"

namespace strata::transport {

struct LinkOptions {
  // Longest a connect, a Send waiting for an in-flight slot, or a WaitSent may block.
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
  std::span<const std::byte> payload;  // header.payload_bytes, in the receive buffer

  std::string_view error_text() const {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

class ActivationSender {
 public:
  virtual ~ActivationSender() = default;

  // Starts sending one message and returns its ticket (0, 1, 2, ... on this link). The
  // `payload` (header.payload_bytes) must stay untouched until WaitSent(ticket) returned OK.
  // Blocks (up to the link timeout) while max_in_flight messages are outstanding.
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

 private:
  LinkLimits limits_;
  std::vector<std::byte> encoded_;     // (max_header_bytes) scratch for Send
  std::vector<char> error_text_;       // (kMaxErrorTextBytes) the last error's text
  std::optional<uint64_t> error_ticket_;  // the message that reads error_text_
};

class ActivationReceiver {
 public:
  virtual ~ActivationReceiver() = default;

  // Waits up to `timeout` for the next message and returns it, its payload in the receive
  // buffer. A malformed message returns an error and is consumed: the next Receive gets the
  // message after it. kUnavailable when the peer was lost (after every message it sent
  // completely was delivered); kDeadlineExceeded when nothing arrived within `timeout` (a
  // quiet link: the next Receive goes on waiting for the same message).
  virtual StatusOr<const ReceivedMessage*> Receive(std::chrono::milliseconds timeout) = 0;
  virtual HopStats stats() const = 0;
};

// The check every receiver makes of the buffer it is given.
Status CheckReceiveBuffer(std::span<std::byte> buffer, const LinkLimits& limits);

}  // namespace strata::transport
