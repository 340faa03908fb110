// NcclTransport: the address of an NCCL link and the checks before its ends are made (see
// nccl_transport.h).
#include "common/transport/nccl/nccl_transport.h"

#include <string>

#include "common/transport/nccl/nccl_comm.h"
#include "common/transport/nccl/nccl_receiver.h"
#include "common/transport/nccl/nccl_sender.h"

namespace strata::transport {
namespace {

constexpr std::string_view kScheme = "nccl:";
constexpr size_t kUuidHexDigits = 32;

class NcclTransport final : public Transport {
 public:
  NcclTransport(Backend& backend, const LinkOptions& options)
      : backend_(backend), options_(options) {}

  ActivationMemory memory() const override { return ActivationMemory::kDevice; }

  StatusOr<Listening> Listen(const LinkLimits& limits, std::span<std::byte> buffer) override {
    STRATA_ASSIGN_OR_RETURN(std::string id_hex, CreateNcclUniqueIdHex());
    std::string address = std::string(kScheme) + backend_.caps().device_id + ":" + id_hex;
    STRATA_ASSIGN_OR_RETURN(
        std::unique_ptr<NcclReceiver> receiver,
        NcclReceiver::Create(backend_, std::move(id_hex), limits, options_, buffer));
    return Listening{std::move(receiver), std::move(address)};
  }

  StatusOr<std::unique_ptr<ActivationSender>> Connect(std::string_view address,
                                                      const LinkLimits& limits) override {
    const size_t id_at = kScheme.size() + kUuidHexDigits + 1;
    if (address.size() <= id_at || address.substr(0, kScheme.size()) != kScheme ||
        address[id_at - 1] != ':') {
      return InvalidArgument("the next stage's address '" + std::string(address.substr(0, 64)) +
                             "' is not an NCCL link (nccl:<gpu uuid>:<id>); every worker of "
                             "the cluster must run the same Strata version");
    }
    const std::string_view peer_gpu = address.substr(kScheme.size(), kUuidHexDigits);
    if (peer_gpu == backend_.caps().device_id) {
      return FailedPrecondition(
          "the next stage runs on this stage's GPU (cuda:" +
          std::to_string(backend_.caps().device) + ", UUID " + std::string(peer_gpu) +
          "): an NCCL link needs a GPU at each end; give neighbouring workers different GPUs "
          "(--backend cuda:N) or use --transport ucx");
    }
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<NcclSender> sender,
                            NcclSender::Connect(backend_, address.substr(id_at), limits, options_));
    return std::unique_ptr<ActivationSender>(std::move(sender));
  }

 private:
  Backend& backend_;
  const LinkOptions options_;
};

}  // namespace

StatusOr<std::unique_ptr<Transport>> CreateNcclTransport(Backend& backend,
                                                         const LinkOptions& options) {
  if (backend.caps().device < 0) {
    return InvalidArgument("the nccl transport needs a CUDA backend (--backend cuda:N), not " +
                           backend.caps().name + "; use --transport ucx");
  }
  STRATA_RETURN_IF_ERROR(CheckOptions(options));
  return std::unique_ptr<Transport>(std::make_unique<NcclTransport>(backend, options));
}

}  // namespace strata::transport
