// The loopback link: a ring of in-flight slots shared by the two halves under one mutex;
// the transport keeps the links listened on and not yet connected, by address.
#include "common/transport/loopback/loopback_transport.h"

#include <condition_variable>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace strata::transport {
namespace {

using Clock = std::chrono::steady_clock;

struct Slot {
  std::vector<std::byte> header;  // (max_header_bytes) the encoded header
  size_t header_len = 0;
  const void* payload = nullptr;  // the sender's buffer, borrowed until the slot completes
  size_t payload_bytes = 0;
  Clock::time_point sent_at;
};

// The state both halves share. Tickets [completed, sent) are queued in slots[t % size].
struct Channel {
  Channel(const LinkLimits& l, const LinkOptions& o) : limits(l), options(o) {
    slots.resize(static_cast<size_t>(o.max_in_flight));
    for (Slot& s : slots) s.header.resize(l.max_header_bytes());
  }

  const LinkLimits limits;
  const LinkOptions options;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Slot> slots;
  uint64_t sent = 0;
  uint64_t completed = 0;
  bool sender_closed = false;
  bool receiver_closed = false;
  HopRecorder send_stats;
};

class LoopbackSender final : public ActivationSender {
 public:
  explicit LoopbackSender(std::shared_ptr<Channel> ch)
      : ActivationSender(ch->limits), ch_(std::move(ch)) {}

  // Waits (up to the timeout) for the receiver to take what is queued, since the payloads
  // belong to the caller, then closes the link.
  ~LoopbackSender() override {
    std::unique_lock lock(ch_->mu);
    ch_->cv.wait_for(lock, ch_->options.timeout,
                     [&] { return ch_->completed == ch_->sent || ch_->receiver_closed; });
    ch_->sent = ch_->completed;  // what was not taken is dropped
    ch_->sender_closed = true;
    ch_->cv.notify_all();
  }

  StatusOr<uint64_t> SendEncoded(std::span<const std::byte> header_bytes, const void* payload,
                                 size_t payload_bytes) override {
    std::unique_lock lock(ch_->mu);
    const uint64_t depth = ch_->slots.size();
    if (!ch_->cv.wait_for(lock, ch_->options.timeout, [&] {
          return ch_->sent - ch_->completed < depth || ch_->receiver_closed;
        })) {
      return Unavailable("loopback link: " + std::to_string(depth) +
                         " messages still in flight after " +
                         std::to_string(ch_->options.timeout.count()) + " ms");
    }
    if (ch_->receiver_closed) return Unavailable("loopback link: the receiver is gone");
    if (header_bytes.size() > ch_->limits.max_header_bytes()) {
      return InvalidArgument("loopback link: header of " + std::to_string(header_bytes.size()) +
                             " bytes exceeds the link's largest header");
    }
    Slot& slot = ch_->slots[ch_->sent % depth];
    std::memcpy(slot.header.data(), header_bytes.data(), header_bytes.size());
    slot.header_len = header_bytes.size();
    slot.payload = payload;
    slot.payload_bytes = payload_bytes;
    slot.sent_at = Clock::now();
    const uint64_t ticket = ch_->sent++;
    ch_->cv.notify_all();
    return ticket;
  }

  Status WaitSent(uint64_t ticket) override {
    std::unique_lock lock(ch_->mu);
    if (ticket >= ch_->sent) {
      return InvalidArgument("loopback link: ticket " + std::to_string(ticket) +
                             " was never sent");
    }
    if (!ch_->cv.wait_for(lock, ch_->options.timeout,
                          [&] { return ch_->completed > ticket || ch_->receiver_closed; })) {
      return Unavailable("loopback link: message " + std::to_string(ticket) +
                         " not received within " + std::to_string(ch_->options.timeout.count()) +
                         " ms");
    }
    if (ch_->completed <= ticket) return Unavailable("loopback link: the receiver is gone");
    return OkStatus();
  }

  HopStats stats() const override { return ch_->send_stats.Snapshot(); }

 private:
  std::shared_ptr<Channel> ch_;
};

class LoopbackReceiver final : public ActivationReceiver {
 public:
  LoopbackReceiver(std::shared_ptr<Channel> ch, std::span<std::byte> buffer)
      : ch_(std::move(ch)), buffer_(buffer) {
    message_.header.seqs.reserve(static_cast<size_t>(ch_->limits.max_seqs));
  }

  ~LoopbackReceiver() override {
    std::lock_guard lock(ch_->mu);
    ch_->receiver_closed = true;
    ch_->cv.notify_all();
  }

  StatusOr<const ReceivedMessage*> Receive(std::chrono::milliseconds timeout) override {
    const Clock::time_point start = Clock::now();
    std::unique_lock lock(ch_->mu);
    if (!ch_->cv.wait_for(lock, timeout,
                          [&] { return ch_->completed < ch_->sent || ch_->sender_closed; })) {
      return DeadlineExceeded("loopback link: no message within " + std::to_string(timeout.count()) +
                         " ms");
    }
    if (ch_->completed == ch_->sent) return Unavailable("loopback link: the sender closed it");
    // The slot is copied and completed under the lock, so the sender's destructor never
    // returns while its payload is being read.
    Slot& slot = ch_->slots[ch_->completed % ch_->slots.size()];
    Status status = DecodeHeader(std::span(slot.header).first(slot.header_len), ch_->limits,
                                 &message_.header);
    if (status.ok() && slot.payload_bytes != message_.header.payload_bytes) {
      status = DataLoss("loopback link: message " + std::to_string(message_.header.step_id) +
                        " carries " + std::to_string(slot.payload_bytes) +
                        " payload bytes, its header says " +
                        std::to_string(message_.header.payload_bytes));
    }
    if (status.ok() && slot.payload_bytes > 0) {
      std::memcpy(buffer_.data(), slot.payload, slot.payload_bytes);
    }
    message_.payload = buffer_.first(status.ok() ? slot.payload_bytes : 0);
    ++ch_->completed;
    ch_->send_stats.Record(slot.payload_bytes, Clock::now() - slot.sent_at);
    ch_->cv.notify_all();
    lock.unlock();
    if (!status.ok()) return status;
    receive_stats_.Record(message_.payload.size(), Clock::now() - start);
    return &message_;
  }

  HopStats stats() const override { return receive_stats_.Snapshot(); }

 private:
  std::shared_ptr<Channel> ch_;
  std::span<std::byte> buffer_;  // (limits.max_payload_bytes) the creator's receive buffer
  ReceivedMessage message_;
  HopRecorder receive_stats_;
};

class LoopbackTransport final : public Transport {
 public:
  explicit LoopbackTransport(const LinkOptions& options) : options_(options) {}

  ActivationMemory memory() const override { return ActivationMemory::kHost; }

  StatusOr<Listening> Listen(const LinkLimits& limits, std::span<std::byte> buffer) override {
    STRATA_RETURN_IF_ERROR(CheckReceiveBuffer(buffer, limits));
    STRATA_RETURN_IF_ERROR(CheckOptions(options_));
    auto ch = std::make_shared<Channel>(limits, options_);
    std::lock_guard lock(mu_);
    Listening listening{std::make_unique<LoopbackReceiver>(ch, buffer),
                        "loopback:" + std::to_string(next_link_++)};
    listening_[listening.address] = ch;
    return listening;
  }

  StatusOr<std::unique_ptr<ActivationSender>> Connect(std::string_view address,
                                                      const LinkLimits& limits) override {
    std::shared_ptr<Channel> ch;
    {
      std::lock_guard lock(mu_);
      const auto it = listening_.find(std::string(address));
      if (it != listening_.end()) {
        ch = it->second.lock();
        listening_.erase(it);  // one sender per link
      }
    }
    if (ch == nullptr) {
      return Unavailable("loopback link: no receiver listens at '" + std::string(address) + "'");
    }
    if (!(ch->limits == limits)) {
      return InvalidArgument("loopback link: the sender's limits differ from the receiver's");
    }
    return std::unique_ptr<ActivationSender>(std::make_unique<LoopbackSender>(ch));
  }

 private:
  const LinkOptions options_;
  std::mutex mu_;
  uint64_t next_link_ = 0;                                      // guarded by mu_
  std::map<std::string, std::weak_ptr<Channel>> listening_;  // guarded by mu_; by address
};

}  // namespace

std::unique_ptr<Transport> CreateLoopbackTransport(const LinkOptions& options) {
  return std::make_unique<LoopbackTransport>(options);
}

}  // namespace strata::transport
