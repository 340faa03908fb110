// Stage links over NCCL: activations stay in device memory (see stage_links.h). Built only
// where CUDA and NCCL are (STRATA_HAVE_NCCL). Thread-safety: as stage_links.h.
#pragma once

#include "worker/stage_links.h"

namespace strata::worker {

// Makes the link's NCCL unique id (its bootstrap root runs in this process); the address is
// "nccl:<hex id>". Errors: a backend without a CUDA device (kInvalidArgument), NCCL's.
StatusOr<std::unique_ptr<InputLink>> CreateNcclInputLink(Backend& backend,
                                                         const transport::LinkLimits& limits,
                                                         const LinkSettings& settings);
StatusOr<std::unique_ptr<OutputLink>> CreateNcclOutputLink(Backend& backend,
                                                           const transport::LinkLimits& limits,
                                                           const LinkSettings& settings);

}  // namespace strata::worker
