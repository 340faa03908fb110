// CreateInputLink, CreateOutputLink: the transport by name (see stage_links.h).
// STRATA_HAVE_NCCL is defined, and nccl_links.cc linked in, only where CUDA and NCCL are.
#include "worker/stage_links.h"

#include "worker/ucx_links.h"
#if STRATA_HAVE_NCCL
#include "worker/nccl_links.h"
#endif

namespace strata::worker {
namespace {

Status UnknownTransport(const std::string& transport) {
  if (transport == "nccl") {
    return Unimplemented("this worker was built without NCCL (it needs CUDA and NCCL at build "
                         "time): rebuild where they are, or run the cluster with --transport ucx");
  }
  return InvalidArgument("unknown data-plane transport '" + transport + "': ucx or nccl");
}

}  // namespace

StatusOr<std::unique_ptr<InputLink>> CreateInputLink(Backend& backend,
                                                     const transport::LinkLimits& limits,
                                                     const LinkSettings& settings) {
  if (settings.transport == "ucx") return CreateUcxInputLink(backend, limits, settings);
#if STRATA_HAVE_NCCL
  if (settings.transport == "nccl") return CreateNcclInputLink(backend, limits, settings);
#endif
  return UnknownTransport(settings.transport);
}

StatusOr<std::unique_ptr<OutputLink>> CreateOutputLink(Backend& backend,
                                                       const transport::LinkLimits& limits,
                                                       const LinkSettings& settings) {
  if (settings.transport == "ucx") return CreateUcxOutputLink(backend, limits, settings);
#if STRATA_HAVE_NCCL
  if (settings.transport == "nccl") return CreateNcclOutputLink(backend, limits, settings);
#endif
  return UnknownTransport(settings.transport);
}

}  // namespace strata::worker
