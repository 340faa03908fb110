// CreateTransport (see transport_factory.h). STRATA_HAVE_NCCL is defined, and the NCCL
// transport linked in, only where CUDA and NCCL are.
#include "common/transport/transport_factory.h"

#include "common/transport/ucx/ucx_transport.h"
#if STRATA_HAVE_NCCL
#include "common/transport/nccl/nccl_transport.h"
#endif

namespace strata::transport {

StatusOr<std::unique_ptr<Transport>> CreateTransport([[maybe_unused]] Backend& backend,
                                                     const LinkSettings& settings) {
  LinkOptions options;
  options.timeout = settings.timeout;
  options.max_in_flight = 4;
  if (settings.transport == "ucx") {
    return CreateUcxTransport(
        {settings.bind_host, settings.port, settings.advertised_host, settings.token}, options);
  }
  if (settings.transport == "nccl") {
#if STRATA_HAVE_NCCL
    return CreateNcclTransport(backend, options);
#else
    return Unimplemented("this worker was built without NCCL (it needs CUDA and NCCL at build "
                         "time): rebuild where they are, or run the cluster with --transport ucx");
#endif
  }
  return InvalidArgument("unknown data-plane transport '" + settings.transport + "': ucx or nccl");
}

}  // namespace strata::transport
