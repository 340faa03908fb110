// Stage links over UCX (see ucx_links.h).
#include "worker/ucx_links.h"

#include "common/transport/ucx/ucx_transport.h"

namespace strata::worker {
namespace {

transport::LinkOptions OptionsFor(const LinkSettings& settings) {
  transport::LinkOptions o;
  o.timeout = settings.timeout;
  o.max_in_flight = 4;
  return o;
}

class UcxInputLink final : public InputLink {
 public:
  const std::string& address() const override { return address_; }
  ActivationMemory memory() const override { return ActivationMemory::kHost; }
  Status Open() override { return OkStatus(); }  // listening since Create
  StatusOr<const transport::ReceivedMessage*> Receive(std::chrono::milliseconds timeout) override {
    // The engine copied the previous payload to the device before its step returned.
    return receiver_->Receive(timeout);
  }
  void Consumed() override {}
  transport::HopStats stats() const override { return receiver_->stats(); }

  DeviceBuffer buffer_;  // (max_rows, hidden) pinned, the receiver's
  std::unique_ptr<transport::ActivationReceiver> receiver_;
  std::string address_;
};

class UcxOutputLink final : public OutputLink {
 public:
  UcxOutputLink(const transport::LinkLimits& limits, const LinkSettings& settings)
      : limits_(limits), options_(OptionsFor(settings)) {}

  ActivationMemory memory() const override { return ActivationMemory::kHost; }
  Status Open(const std::string& next_address) override {
    STRATA_ASSIGN_OR_RETURN(sender_, transport::ConnectUcx(next_address, limits_, options_));
    return OkStatus();
  }
  StatusOr<float*> NextBuffer() override {
    return buffers_.Next([this](uint64_t ticket) { return sender_->WaitSent(ticket); });
  }
  Status Send(const transport::MessageHeader& header, float* buffer) override {
    // ForwardStage copied the output to this host buffer and synchronised.
    STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, sender_->Send(header, buffer));
    buffers_.Sent(ticket);
    return OkStatus();
  }
  transport::HopStats stats() const override {
    return sender_ != nullptr ? sender_->stats() : transport::HopStats{};
  }

  const transport::LinkLimits limits_;
  const transport::LinkOptions options_;
  SendBuffers buffers_;  // pinned
  std::unique_ptr<transport::ActivationSender> sender_;
};

}  // namespace

StatusOr<std::unique_ptr<InputLink>> CreateUcxInputLink(Backend& backend,
                                                        const transport::LinkLimits& limits,
                                                        const LinkSettings& settings) {
  auto link = std::make_unique<UcxInputLink>();
  const size_t bytes = limits.max_payload_bytes();
  STRATA_ASSIGN_OR_RETURN(link->buffer_, backend.AllocatePinned(bytes));
  STRATA_ASSIGN_OR_RETURN(
      transport::UcxListening listening,
      transport::ListenUcx(settings.bind_host + ":" + std::to_string(settings.port), limits,
                           OptionsFor(settings), std::span<std::byte>(link->buffer_.get(), bytes)));
  link->receiver_ = std::move(listening.receiver);
  link->address_ = settings.advertised_host + ":" + std::to_string(listening.port);
  return std::unique_ptr<InputLink>(std::move(link));
}

StatusOr<std::unique_ptr<OutputLink>> CreateUcxOutputLink(Backend& backend,
                                                          const transport::LinkLimits& limits,
                                                          const LinkSettings& settings) {
  auto link = std::make_unique<UcxOutputLink>(limits, settings);
  for (int i = 0; i < 2; ++i) {
    STRATA_ASSIGN_OR_RETURN(link->buffers_.buffer(i),
                            backend.AllocatePinned(limits.max_payload_bytes()));
  }
  return std::unique_ptr<OutputLink>(std::move(link));
}

}  // namespace strata::worker
