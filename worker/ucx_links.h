// Stage links over UCX: activations staged through pinned host memory (see stage_links.h).
// Thread-safety: as stage_links.h.
#pragma once

#include "worker/stage_links.h"

namespace strata::worker {

// Listens at once (settings.bind_host:port); the address is advertised_host:<port>.
StatusOr<std::unique_ptr<InputLink>> CreateUcxInputLink(Backend& backend,
                                                        const transport::LinkLimits& limits,
                                                        const LinkSettings& settings);
StatusOr<std::unique_ptr<OutputLink>> CreateUcxOutputLink(Backend& backend,
                                                          const transport::LinkLimits& limits,
                                                          const LinkSettings& settings);

}  // namespace strata::worker
