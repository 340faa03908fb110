// ConnectLocalLink (see local_link.h).
#include "common/transport/local_link.h"

#include <future>

namespace strata::transport {

StatusOr<LocalLink> ConnectLocalLink(Transport& sending, Transport& receiving,
                                     const LinkLimits& limits, std::span<std::byte> buffer) {
  STRATA_ASSIGN_OR_RETURN(Listening listening, receiving.Listen(limits, buffer));
  ActivationReceiver& receiver = *listening.receiver;
  std::future<Status> opened = std::async(std::launch::async, [&] { return receiver.Open(); });
  StatusOr<std::unique_ptr<ActivationSender>> sender = sending.Connect(listening.address, limits);
  const Status open = opened.get();
  STRATA_RETURN_IF_ERROR(sender.status());
  STRATA_RETURN_IF_ERROR(open);
  return LocalLink{std::move(sender).value(), std::move(listening.receiver)};
}

}  // namespace strata::transport
