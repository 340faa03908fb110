// UcxSender and UcxReceiver: the tag protocol of ucx_transport.h on a UcxWorker; UcxTransport
// makes them.
#include "common/transport/ucx/ucx_transport.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "common/transport/link_hello.h"
#include "common/transport/ucx/socket_address.h"
#include "common/transport/ucx/ucx_worker.h"

namespace strata::transport {
namespace {

using Clock = std::chrono::steady_clock;
using std::to_string;

constexpr ucp_tag_t kFullMask = std::numeric_limits<ucp_tag_t>::max();
ucp_tag_t HeaderTag(uint64_t ticket) { return ticket << 1; }
ucp_tag_t PayloadTag(uint64_t ticket) { return (ticket << 1) | 1; }
// The handshake's two messages, above every message's tag (tickets stay below 2^62).
constexpr ucp_tag_t kHelloTag = ucp_tag_t{1} << 63;         // sender -> receiver: the hello
constexpr ucp_tag_t kAcceptTag = (ucp_tag_t{1} << 63) | 1;  // receiver -> sender: one byte
constexpr std::byte kAccepted{1};
// Connection requests kept while a sender's hello is checked; more are rejected at once.
constexpr size_t kMaxWaitingSenders = 4;

std::string Ms(std::chrono::milliseconds t) { return to_string(t.count()) + " ms"; }

// The host whose interface carries a worker's links: where receivers bind, or, when they bind
// every interface, the address peers are given.
std::string DataHost(const UcxSettings& s) {
  const bool wildcard = s.bind_host.empty() || s.bind_host == "0.0.0.0" || s.bind_host == "::" ||
                        s.bind_host == "[::]";
  return wildcard ? s.advertised_host : s.bind_host;
}

// ---- sender -------------------------------------------------------------------------------

class UcxSender final : public ActivationSender {
 public:
  UcxSender(std::string address, const LinkLimits& limits, const LinkOptions& options)
      : ActivationSender(limits), address_(std::move(address)), options_(options) {
    slots_.resize(static_cast<size_t>(options.max_in_flight));
    for (Slot& s : slots_) {
      s.header.resize(limits.max_header_bytes());
      s.owner = this;
    }
  }

  ~UcxSender() override {
    if (ucx_ == nullptr) return;
    {
      // The handshake's answer, if it never came, would write into this object.
      std::unique_lock lock(ucx_->mu());
      if (accept_request_ != nullptr) {
        ucp_request_cancel(ucx_->worker(), accept_request_);
        ucx_->Kick();
        ucx_->cv().wait_for(lock, options_.timeout, [&] { return accept_request_ == nullptr; });
      }
    }
    if (ep_ != nullptr) {
      bool lost;
      {
        // Let what is in flight leave (the payloads belong to the caller), then close.
        std::unique_lock lock(ucx_->mu());
        ucx_->Drive(lock, Clock::now() + options_.timeout,
                    [&] { return !failed_.ok() || Idle(); });
        lost = !failed_.ok() || !Idle();
      }
      ucx_->CloseEndpoint(ep_, /*force=*/lost, options_.timeout);
    }
    ucx_->Stop();
  }

  // Connects over `net_devices` (UcxWorker::Create), presents `token` and waits for the
  // receiver to accept it.
  Status Connect(const SocketAddress& addr, std::string_view token,
                 const std::string& net_devices) {
    STRATA_ASSIGN_OR_RETURN(hello_, EncodeHello(token));
    STRATA_ASSIGN_OR_RETURN(ucx_, UcxWorker::Create(net_devices));
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                        UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = addr.get();
    params.sockaddr.addrlen = addr.length;
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = &UcxSender::PeerError;
    params.err_handler.arg = this;
    const ucs_status_t st = ucp_ep_create(ucx_->worker(), &params, &ep_);
    if (st != UCS_OK) {
      ep_ = nullptr;
      return Unavailable("UCX link to " + address_ + ": ucp_ep_create: " + UcsError(st));
    }
    ucx_->Start(nullptr);

    // The receiver's answer first (so it cannot arrive unmatched), then the hello; the link is
    // up once the answer arrives. A hello sent means the connection was made.
    std::unique_lock lock(ucx_->mu());
    ucp_request_param_t recv{};
    recv.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    recv.cb.recv = &UcxSender::AcceptDone;
    recv.user_data = this;
    ucs_status_ptr_t request =
        ucp_tag_recv_nbx(ucx_->worker(), &accept_byte_, 1, kAcceptTag, kFullMask, &recv);
    if (UCS_PTR_IS_ERR(request)) {
      return Unavailable("UCX link to " + address_ + ": ucp_tag_recv_nbx: " +
                         UcsError(UCS_PTR_STATUS(request)));
    }
    if (accept_status_ == UCS_INPROGRESS) accept_request_ = request;
    ucp_request_param_t send{};
    send.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    send.cb.send = &UcxSender::HelloDone;
    send.user_data = this;
    request = ucp_tag_send_nbx(ep_, hello_.data(), hello_.size(), kHelloTag, &send);
    if (UCS_PTR_IS_ERR(request)) {
      Fail(UCS_PTR_STATUS(request));
    } else if (request == nullptr) {
      hello_sent_ = true;
    }
    ucx_->Kick();
    if (!ucx_->cv().wait_for(lock, options_.timeout, [&] {
          return accept_status_ != UCS_INPROGRESS || !failed_.ok();
        })) {
      return Unavailable("UCX link to " + address_ + ": not " +
                         (hello_sent_ ? "accepted" : "connected") + " within " +
                         Ms(options_.timeout) + "; is the next stage listening there?");
    }
    if (accept_status_ == UCS_OK && accept_byte_ == kAccepted && failed_.ok()) return OkStatus();
    if (!hello_sent_) {
      return Unavailable("UCX link to " + address_ + ": cannot connect (" +
                         UcsError(lost_status_) + "); is the next stage listening there?");
    }
    return Unavailable("UCX link to " + address_ + ": the next stage closed the link during the "
                       "handshake (" + UcsError(lost_status_) + "): it refuses a sender whose "
                       "cluster token is not its own (its log says why) and takes one sender "
                       "per link");
  }

  StatusOr<uint64_t> SendEncoded(std::span<const std::byte> header_bytes, const void* payload,
                                 size_t payload_bytes) override {
    if (header_bytes.size() > limits().max_header_bytes()) {
      return InvalidArgument("UCX link to " + address_ + ": header of " +
                             to_string(header_bytes.size()) + " bytes exceeds the link's largest");
    }
    std::unique_lock lock(ucx_->mu());
    Slot& slot = slots_[next_ticket_ % slots_.size()];
    if (!ucx_->Drive(lock, Clock::now() + options_.timeout,
                     [&] { return !failed_.ok() || slot.pending == 0; })) {
      return Unavailable("UCX link to " + address_ + ": " + to_string(slots_.size()) +
                         " messages still in flight after " + Ms(options_.timeout));
    }
    if (!failed_.ok()) return failed_;
    const uint64_t ticket = next_ticket_++;
    std::memcpy(slot.header.data(), header_bytes.data(), header_bytes.size());
    slot.ticket = ticket;
    slot.payload_bytes = payload_bytes;
    slot.sent_at = Clock::now();
    slot.pending = 0;
    Post(slot, slot.header.data(), header_bytes.size(), HeaderTag(ticket));
    Post(slot, payload, payload_bytes, PayloadTag(ticket));
    if (slot.pending == 0) {
      stats_.Record(payload_bytes, Clock::now() - slot.sent_at);  // sent inline
    } else if (!ucx_->Spin(lock, [&] { return !failed_.ok() || slot.pending == 0; })) {
      // A decode-sized message leaves within the spin; the rest of a larger one is the
      // progress thread's while the caller computes.
      ucx_->Kick();
    }
    return ticket;
  }

  Status WaitSent(uint64_t ticket) override {
    std::unique_lock lock(ucx_->mu());
    if (ticket >= next_ticket_) {
      return InvalidArgument("UCX link to " + address_ + ": ticket " + to_string(ticket) +
                             " was never sent");
    }
    const auto done = [&] {
      for (const Slot& s : slots_) {
        if (s.pending > 0 && s.ticket <= ticket) return false;
      }
      return true;
    };
    if (!ucx_->Drive(lock, Clock::now() + options_.timeout,
                     [&] { return !failed_.ok() || done(); })) {
      return Unavailable("UCX link to " + address_ + ": message " + to_string(ticket) +
                         " not delivered within " + Ms(options_.timeout) +
                         "; the next stage is stalled or unreachable");
    }
    return failed_;
  }

  HopStats stats() const override { return stats_.Snapshot(); }

 private:
  struct Slot {
    std::vector<std::byte> header;  // (max_header_bytes) kept until the header send completes
    uint64_t ticket = 0;
    int pending = 0;  // sends of this message not yet complete
    size_t payload_bytes = 0;
    Clock::time_point sent_at;
    UcxSender* owner = nullptr;
  };
  bool Idle() const {
    for (const Slot& s : slots_) {
      if (s.pending > 0) return false;
    }
    return true;
  }

  // mu held.
  void Post(Slot& slot, const void* buffer, size_t bytes, ucp_tag_t tag) {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.send = &UcxSender::SendDone;
    param.user_data = &slot;
    const ucs_status_ptr_t request = ucp_tag_send_nbx(ep_, buffer, bytes, tag, &param);
    if (UCS_PTR_IS_ERR(request)) {
      Fail(UCS_PTR_STATUS(request));
    } else if (request != nullptr) {
      ++slot.pending;
    }
  }

  // mu held.
  void Fail(ucs_status_t status) {
    if (failed_.ok()) {
      lost_status_ = status;
      failed_ = Unavailable("UCX link to " + address_ + ": the next stage was lost (" +
                            UcsError(status) + ")");
    }
    ucx_->cv().notify_all();
  }

  static void SendDone(void* request, ucs_status_t status, void* user_data) {
    Slot& slot = *static_cast<Slot*>(user_data);
    UcxSender& self = *slot.owner;
    if (status != UCS_OK) self.Fail(status);
    if (--slot.pending == 0 && status == UCS_OK) {
      self.stats_.Record(slot.payload_bytes, Clock::now() - slot.sent_at);
    }
    self.ucx_->cv().notify_all();
    ucp_request_free(request);
  }

  static void HelloDone(void* request, ucs_status_t status, void* user_data) {
    auto& self = *static_cast<UcxSender*>(user_data);
    if (status == UCS_OK) {
      self.hello_sent_ = true;
    } else {
      self.Fail(status);
    }
    ucp_request_free(request);
  }

  static void AcceptDone(void* request, ucs_status_t status, const ucp_tag_recv_info_t* /*info*/,
                         void* user_data) {
    auto& self = *static_cast<UcxSender*>(user_data);
    self.accept_status_ = status;
    self.accept_request_ = nullptr;
    self.ucx_->cv().notify_all();
    ucp_request_free(request);
  }

  static void PeerError(void* arg, ucp_ep_h /*ep*/, ucs_status_t status) {
    static_cast<UcxSender*>(arg)->Fail(status);
  }

  const std::string address_;
  const LinkOptions options_;
  std::vector<std::byte> hello_;  // the encoded hello, until the worker is gone
  std::unique_ptr<UcxWorker> ucx_;
  ucp_ep_h ep_ = nullptr;
  // Guarded by ucx_->mu():
  std::vector<Slot> slots_;  // (max_in_flight) message t in slots_[t % max_in_flight]
  uint64_t next_ticket_ = 0;
  bool hello_sent_ = false;
  std::byte accept_byte_{0};                     // the receiver's answer
  ucs_status_t accept_status_ = UCS_INPROGRESS;  // its receive's outcome
  void* accept_request_ = nullptr;               // its receive, while posted
  ucs_status_t lost_status_ = UCS_ERR_UNREACHABLE;  // why failed_ was set
  Status failed_;
  HopRecorder stats_;
};

// ---- receiver -----------------------------------------------------------------------------

class UcxReceiver final : public ActivationReceiver {
 public:
  UcxReceiver(const LinkLimits& limits, const LinkOptions& options, std::string token,
              std::span<std::byte> buffer)
      : limits_(limits),
        options_(options),
        token_(std::move(token)),
        buffer_(buffer),
        header_buf_(limits.max_header_bytes()),
        hello_buf_(kMaxHelloBytes) {
    message_.header.seqs.reserve(static_cast<size_t>(limits.max_seqs));
    header_part_.owner = payload_part_.owner = hello_part_.owner = this;
  }

  ~UcxReceiver() override {
    if (ucx_ == nullptr) return;
    {
      // Receives still posted would write into the caller's buffer and this object: cancel
      // them first; turn away the senders still waiting.
      std::unique_lock lock(ucx_->mu());
      for (Part* part : {&header_part_, &payload_part_, &hello_part_}) {
        if (part->request != nullptr) ucp_request_cancel(ucx_->worker(), part->request);
      }
      for (ucp_conn_request_h request : waiting_) ucp_listener_reject(listener_, request);
      waiting_.clear();
      ucx_->Kick();
      ucx_->cv().wait_for(lock, options_.timeout, [&] {
        return header_part_.request == nullptr && payload_part_.request == nullptr &&
               hello_part_.request == nullptr && discarding_ == 0;
      });
    }
    if (ep_ != nullptr) ucx_->CloseEndpoint(ep_, /*force=*/true, options_.timeout);
    ucx_->Stop();
    if (listener_ != nullptr) ucp_listener_destroy(listener_);
  }

  StatusOr<uint16_t> Listen(const SocketAddress& addr, const std::string& bind_address,
                            const std::string& net_devices) {
    where_ = "UCX link listening on " + bind_address;
    STRATA_ASSIGN_OR_RETURN(ucx_, UcxWorker::Create(net_devices));
    ucp_listener_params_t params{};
    params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    params.sockaddr.addr = addr.get();
    params.sockaddr.addrlen = addr.length;
    params.conn_handler.cb = &UcxReceiver::ConnectionRequest;
    params.conn_handler.arg = this;
    ucs_status_t st = ucp_listener_create(ucx_->worker(), &params, &listener_);
    if (st != UCS_OK) {
      listener_ = nullptr;
      return Unavailable(where_ + ": cannot listen (" + UcsError(st) +
                         "); is the port in use or the address not local?");
    }
    ucp_listener_attr_t attr{};
    attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    st = ucp_listener_query(listener_, &attr);
    if (st != UCS_OK) return Unavailable(where_ + ": ucp_listener_query: " + UcsError(st));
    SocketAddress bound;
    bound.storage = attr.sockaddr;
    where_ = "UCX link listening on " + bound.ToString();
    ucx_->Start([this] { Handshake(); });
    return bound.port();
  }

  StatusOr<const ReceivedMessage*> Receive(std::chrono::milliseconds timeout) override {
    const Clock::time_point start = Clock::now();
    std::unique_lock lock(ucx_->mu());
    if (!posted_) {
      // Nothing is received before a sender has presented the token.
      if (!ucx_->cv().wait_until(lock, start + timeout,
                                 [&] { return accepted_ || !failed_.ok(); })) {
        return DeadlineExceeded(where_ + ": no message within " + Ms(timeout) +
                                " (no sender has presented the cluster token yet)");
      }
      if (!accepted_) return failed_;
      // Posted even when the sender is gone: what it sent before waits in UCX's unexpected
      // queue and is matched here.
      Post(header_part_, header_buf_.data(), header_buf_.size(), HeaderTag(next_ticket_));
      Post(payload_part_, buffer_.data(), buffer_.size(), PayloadTag(next_ticket_));
      posted_ = true;
    }
    const auto arrived = [&] { return header_part_.done && payload_part_.done; };
    if (!ucx_->Drive(lock, start + timeout, [&] { return arrived() || !failed_.ok(); })) {
      return DeadlineExceeded(where_ + ": no message within " + Ms(timeout));
    }
    if (!arrived()) {
      // The sender is gone. A message it sent before may be matched already, its completion
      // deferred to a later round of progress: deliver it if two more rounds complete it.
      const uint64_t round = ucx_->rounds();
      ucx_->Drive(lock, start + timeout,
                  [&] { return arrived() || ucx_->rounds() >= round + 2; });
      if (!arrived()) return failed_;
    }
    posted_ = false;
    const uint64_t ticket = next_ticket_++;
    const std::string what = where_ + ": message " + to_string(ticket);
    if (header_part_.status == UCS_ERR_MESSAGE_TRUNCATED) {
      return DataLoss(what + ": header longer than the " + to_string(header_buf_.size()) +
                      " bytes the link allows");
    }
    if (header_part_.status != UCS_OK) {
      return Unavailable(what + ": header not received: " + UcsError(header_part_.status));
    }
    STRATA_RETURN_IF_ERROR(
        DecodeHeader(std::span(header_buf_).first(header_part_.length), limits_, &message_.header)
            .WithContext(what));
    if (payload_part_.status == UCS_ERR_MESSAGE_TRUNCATED) {
      return DataLoss(what + ": payload larger than the " + to_string(buffer_.size()) +
                      "-byte receive buffer");
    }
    if (payload_part_.status != UCS_OK) {
      return Unavailable(what + ": payload not received: " + UcsError(payload_part_.status));
    }
    if (payload_part_.length != message_.header.payload_bytes) {
      return DataLoss(what + ": " + to_string(payload_part_.length) +
                      " payload bytes arrived, the header says " +
                      to_string(message_.header.payload_bytes));
    }
    message_.payload = buffer_.first(payload_part_.length);
    lock.unlock();
    stats_.Record(message_.payload.size(), Clock::now() - start);
    return &message_;
  }

  HopStats stats() const override { return stats_.Snapshot(); }

 private:
  struct Part {
    void* request = nullptr;  // while posted and not complete
    bool done = false;
    ucs_status_t status = UCS_OK;
    size_t length = 0;
    UcxReceiver* owner = nullptr;
  };

  // mu held. Completion always comes through RecvDone (UCX 1.13 leaves recv_info unset on
  // immediate completion), which may run before ucp_tag_recv_nbx returns.
  void Post(Part& part, void* buffer, size_t bytes, ucp_tag_t tag) {
    part.done = false;
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                         UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    param.cb.recv = &UcxReceiver::RecvDone;
    param.user_data = &part;
    const ucs_status_ptr_t request =
        ucp_tag_recv_nbx(ucx_->worker(), buffer, bytes, tag, kFullMask, &param);
    if (UCS_PTR_IS_ERR(request)) {
      Complete(part, UCS_PTR_STATUS(request), 0);
    } else if (!part.done) {
      part.request = request;
    }
  }

  static void Complete(Part& part, ucs_status_t status, size_t length) {
    part.request = nullptr;
    part.done = true;
    part.status = status;
    part.length = length;
  }

  static void RecvDone(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info,
                       void* user_data) {
    Part& part = *static_cast<Part*>(user_data);
    Complete(part, status, status == UCS_OK ? info->length : 0);
    part.owner->ucx_->cv().notify_all();
    ucp_request_free(request);
  }

  static void ConnectionRequest(ucp_conn_request_h request, void* arg) {
    auto& self = *static_cast<UcxReceiver*>(arg);
    if (self.accepted_ || self.waiting_.size() >= kMaxWaitingSenders) {
      spdlog::warn("{}: refused {}: {}", self.where_, Requester(request),
                   self.accepted_ ? "the link has its sender already"
                                  : "too many senders wait to present a token");
      ucp_listener_reject(self.listener_, request);  // one sender per link
      return;
    }
    self.waiting_.push_back(request);
  }

  // "the sender at HOST:PORT" of a connection request, for messages.
  static std::string Requester(ucp_conn_request_h request) {
    ucp_conn_request_attr_t attr{};
    attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
    if (ucp_conn_request_query(request, &attr) != UCS_OK) return "a sender";
    SocketAddress client;
    client.storage = attr.client_address;
    return "the sender at " + client.ToString();
  }

  // After every round of progress (on whichever thread progresses), mu held: checks the current
  // sender's hello (accepting or refusing it), or takes the next waiting sender.
  void Handshake() {
    if (accepted_ || !failed_.ok()) return;
    if (ep_ != nullptr) {
      Status refusal;
      if (hello_part_.done) {
        refusal = hello_part_.status == UCS_OK
                      ? CheckHello(std::span(hello_buf_).first(hello_part_.length), token_)
                  : hello_part_.status == UCS_ERR_MESSAGE_TRUNCATED
                      ? InvalidArgument("its link hello is longer than " +
                                        to_string(kMaxHelloBytes) + " bytes")
                      : Unavailable("its link hello was not received (" +
                                    UcsError(hello_part_.status) + ")");
        if (refusal.ok()) return Accept();
      } else if (sender_lost_) {
        refusal = Unavailable("it closed the connection before presenting a cluster token");
      } else if (Clock::now() >= hello_deadline_) {
        refusal = DeadlineExceeded("it presented no cluster token within " +
                                   Ms(options_.timeout));
      } else {
        return;  // its hello is still to come
      }
      Refuse(refusal);
    }
    // A hello receive being cancelled still owns hello_buf_: the next sender waits for it.
    if (waiting_.empty() || hello_part_.request != nullptr) return;
    const ucp_conn_request_h request = waiting_.front();
    waiting_.pop_front();
    sender_ = Requester(request);
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                        UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params.conn_request = request;
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = &UcxReceiver::PeerError;
    params.err_handler.arg = this;
    const ucs_status_t st = ucp_ep_create(ucx_->worker(), &params, &ep_);
    if (st != UCS_OK) {
      ep_ = nullptr;
      spdlog::warn("{}: accepting {} failed: {}", where_, sender_, UcsError(st));
      return;
    }
    sender_lost_ = false;
    hello_deadline_ = Clock::now() + options_.timeout;
    Post(hello_part_, hello_buf_.data(), hello_buf_.size(), kHelloTag);
  }

  // mu held: the sender presented the token. Anything an earlier sender left is discarded,
  // the sender is told, and the senders still waiting are turned away.
  void Accept() {
    DiscardUnexpected();
    accepted_ = true;
    ucp_request_param_t param{};
    const ucs_status_ptr_t request = ucp_tag_send_nbx(ep_, &kAccepted, 1, kAcceptTag, &param);
    if (UCS_PTR_IS_ERR(request)) {
      failed_ = Unavailable(where_ + ": answering " + sender_ + " failed: " +
                            UcsError(UCS_PTR_STATUS(request)));
    } else if (request != nullptr) {
      ucp_request_free(request);  // released once sent; kAccepted outlives it
    }
    for (ucp_conn_request_h waiting : waiting_) ucp_listener_reject(listener_, waiting);
    waiting_.clear();
    ucx_->cv().notify_all();
  }

  // mu held: logs why the current sender is refused and disconnects it; what it sent is
  // discarded.
  void Refuse(const Status& why) {
    spdlog::error("{}: refused {}: {}", where_, sender_, why.message());
    if (hello_part_.request != nullptr) ucp_request_cancel(ucx_->worker(), hello_part_.request);
    hello_part_.done = false;
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    const ucs_status_ptr_t request = ucp_ep_close_nbx(ep_, &param);
    if (request != nullptr && !UCS_PTR_IS_ERR(request)) ucp_request_free(request);
    ep_ = nullptr;
    DiscardUnexpected();
  }

  // mu held: receives and drops every message no receive has matched yet.
  void DiscardUnexpected() {
    ucp_tag_recv_info_t info{};
    while (ucp_tag_message_h message = ucp_tag_probe_nb(ucx_->worker(), 0, 0, 1, &info)) {
      ucp_request_param_t param{};
      param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                           UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
      param.cb.recv = &UcxReceiver::Discarded;
      param.user_data = this;
      const ucs_status_ptr_t request = ucp_tag_msg_recv_nbx(
          ucx_->worker(), discard_buf_.data(), discard_buf_.size(), message, &param);
      if (request != nullptr && !UCS_PTR_IS_ERR(request)) ++discarding_;
    }
  }

  static void Discarded(void* request, ucs_status_t /*status*/,
                        const ucp_tag_recv_info_t* /*info*/, void* user_data) {
    auto& self = *static_cast<UcxReceiver*>(user_data);
    --self.discarding_;
    self.ucx_->cv().notify_all();
    ucp_request_free(request);
  }

  static void PeerError(void* arg, ucp_ep_h ep, ucs_status_t status) {
    auto& self = *static_cast<UcxReceiver*>(arg);
    if (ep != self.ep_) return;  // a refused sender's
    if (!self.accepted_) {
      self.sender_lost_ = true;  // Handshake refuses it and takes the next one
      self.ucx_->Kick();
      return;
    }
    if (self.failed_.ok()) {
      self.failed_ = Unavailable(self.where_ + ": the previous stage closed the link or was lost (" +
                                 UcsError(status) + ")");
    }
    self.ucx_->cv().notify_all();
  }

  std::string where_;  // "UCX link listening on HOST:PORT", for messages
  const LinkLimits limits_;
  const LinkOptions options_;
  const std::string token_;            // the cluster token a sender must present
  std::span<std::byte> buffer_;        // (max_payload_bytes) the creator's receive buffer
  std::vector<std::byte> header_buf_;  // (max_header_bytes)
  std::vector<std::byte> hello_buf_;   // (kMaxHelloBytes)
  std::array<std::byte, 64> discard_buf_{};  // what discarded messages are received into
  ReceivedMessage message_;
  HopRecorder stats_;
  std::unique_ptr<UcxWorker> ucx_;
  ucp_listener_h listener_ = nullptr;
  // Guarded by ucx_->mu():
  std::deque<ucp_conn_request_h> waiting_;  // (kMaxWaitingSenders) senders not yet taken
  ucp_ep_h ep_ = nullptr;                   // the sender being checked, then the accepted one
  std::string sender_;                      // "the sender at HOST:PORT", for messages
  bool accepted_ = false;                   // ep_ presented the token
  bool sender_lost_ = false;                // ep_ went away before its hello was checked
  Clock::time_point hello_deadline_;        // ep_'s hello must have arrived by then
  int discarding_ = 0;                      // discarded messages' receives not yet complete
  Status failed_;
  bool posted_ = false;  // both receives of message next_ticket_ are posted
  uint64_t next_ticket_ = 0;
  Part header_part_;
  Part payload_part_;
  Part hello_part_;
};

class UcxTransport final : public Transport {
 public:
  UcxTransport(const UcxSettings& settings, const LinkOptions& options)
      : settings_(settings), options_(options), net_devices_(UcxNetDevices(settings)) {
    static std::atomic<bool> logged{false};  // once per process: it is the same every time
    if (!logged.exchange(true)) {
      if (!net_devices_.empty()) {
        spdlog::info("UCX links use the network device(s) {} (the data address's interface; "
                     "UCX_NET_DEVICES overrides)", net_devices_);
      } else if (std::getenv("UCX_NET_DEVICES") == nullptr) {
        spdlog::info("UCX links may use every network device: no local interface holds {} "
                     "(set UCX_NET_DEVICES to the one peers reach)", DataHost(settings_));
      }
    }
  }

  ActivationMemory memory() const override { return ActivationMemory::kHost; }

  StatusOr<Listening> Listen(const LinkLimits& limits, std::span<std::byte> buffer) override {
    STRATA_RETURN_IF_ERROR(CheckReceiveBuffer(buffer, limits));
    const std::string bind_address = settings_.bind_host + ":" + to_string(settings_.port);
    STRATA_ASSIGN_OR_RETURN(const SocketAddress addr, ResolveAddress(bind_address));
    auto receiver = std::make_unique<UcxReceiver>(limits, options_, settings_.token, buffer);
    STRATA_ASSIGN_OR_RETURN(const uint16_t port,
                            receiver->Listen(addr, bind_address, net_devices_));
    return Listening{std::move(receiver), settings_.advertised_host + ":" + to_string(port)};
  }

  StatusOr<std::unique_ptr<ActivationSender>> Connect(std::string_view address,
                                                      const LinkLimits& limits) override {
    STRATA_RETURN_IF_ERROR(ValidateLimits(limits));
    STRATA_RETURN_IF_ERROR(CheckOptions(options_));
    STRATA_ASSIGN_OR_RETURN(const SocketAddress addr, ResolveAddress(address));
    auto sender = std::make_unique<UcxSender>(std::string(address), limits, options_);
    STRATA_RETURN_IF_ERROR(sender->Connect(addr, settings_.token, net_devices_));
    return std::unique_ptr<ActivationSender>(std::move(sender));
  }

 private:
  const UcxSettings settings_;
  const LinkOptions options_;
  const std::string net_devices_;  // UcxNetDevices(settings_)
};

}  // namespace

std::string UcxNetDevices(const UcxSettings& settings) {
  if (std::getenv("UCX_NET_DEVICES") != nullptr) return "";
  StatusOr<SocketAddress> addr = ResolveAddress(DataHost(settings) + ":0");
  if (!addr.ok()) return "";
  const std::optional<std::string> interface = InterfaceHolding(*addr);
  if (!interface) return "";
  std::string devices = *interface;
  // RDMA ports are UCX network devices too (UCX_TLS=rc, ud, dc): kept, under UCX's names.
  std::error_code ec;
  for (const auto& dev : std::filesystem::directory_iterator("/sys/class/infiniband", ec)) {
    std::error_code port_ec;
    for (const auto& port : std::filesystem::directory_iterator(dev.path() / "ports", port_ec)) {
      devices += "," + dev.path().filename().string() + ":" + port.path().filename().string();
    }
  }
  return devices;
}

std::unique_ptr<Transport> CreateUcxTransport(const UcxSettings& settings,
                                              const LinkOptions& options) {
  return std::make_unique<UcxTransport>(settings, options);
}

}  // namespace strata::transport
