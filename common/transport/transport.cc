// HopRecorder, the encoding half of ActivationSender, link buffers, and the checks every
// transport makes.
#include "common/transport/transport.h"

#include <algorithm>
#include <string>

namespace strata::transport {

void HopRecorder::Record(uint64_t payload_bytes, std::chrono::steady_clock::duration elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::lock_guard lock(mu_);
  ++stats_.messages;
  stats_.payload_bytes += payload_bytes;
  stats_.seconds_total += seconds;
  stats_.seconds_max = std::max(stats_.seconds_max, seconds);
  stats_.seconds_last = seconds;
}

HopStats HopRecorder::Snapshot() const {
  std::lock_guard lock(mu_);
  return stats_;
}

ActivationSender::ActivationSender(const LinkLimits& limits)
    : limits_(limits), encoded_(limits.max_header_bytes()), error_text_(kMaxErrorTextBytes) {}

StatusOr<uint64_t> ActivationSender::Send(const MessageHeader& header, const void* payload) {
  STRATA_RETURN_IF_ERROR(ValidateHeader(header, limits_));
  const size_t n = EncodeHeader(header, encoded_);
  return SendEncoded(std::span(encoded_).first(n), payload, header.payload_bytes);
}

StatusOr<uint64_t> ActivationSender::SendShutdown(uint64_t step_id) {
  MessageHeader h;
  h.kind = MessageKind::kShutdown;
  h.step_id = step_id;
  return Send(h, nullptr);
}

StatusOr<uint64_t> ActivationSender::SendError(uint64_t step_id, std::string_view text) {
  if (error_ticket_.has_value()) STRATA_RETURN_IF_ERROR(WaitSent(*error_ticket_));
  MessageHeader h;
  h.kind = MessageKind::kError;
  h.step_id = step_id;
  const std::string_view clipped = text.substr(0, kMaxErrorTextBytes);
  h.payload_bytes = clipped.size();
  STRATA_ASSIGN_OR_RETURN(const void* staged, StageErrorText(clipped));
  STRATA_ASSIGN_OR_RETURN(const uint64_t ticket, Send(h, staged));
  error_ticket_ = ticket;
  return ticket;
}

StatusOr<const void*> ActivationSender::StageErrorText(std::string_view text) {
  std::copy(text.begin(), text.end(), error_text_.begin());
  return error_text_.data();
}

StatusOr<DeviceBuffer> AllocateLinkBuffer(Backend& backend, ActivationMemory memory, size_t bytes) {
  return memory == ActivationMemory::kDevice ? backend.Allocate(bytes)
                                             : backend.AllocatePinned(bytes);
}

Status CheckReceiveBuffer(std::span<std::byte> buffer, const LinkLimits& limits) {
  STRATA_RETURN_IF_ERROR(ValidateLimits(limits));
  if (buffer.size() < limits.max_payload_bytes()) {
    return InvalidArgument("receive buffer of " + std::to_string(buffer.size()) +
                           " bytes is smaller than the link's largest payload, " +
                           std::to_string(limits.max_payload_bytes()) + " bytes");
  }
  return OkStatus();
}

Status CheckOptions(const LinkOptions& options) {
  if (options.max_in_flight <= 0) return InvalidArgument("max_in_flight must be positive");
  return OkStatus();
}

}  // namespace strata::transport
