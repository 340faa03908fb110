// The capabilities a worker registers with: its memory budgets and its stage times measured
// on its own pack at start-up (one SSD read, one copy and one decode token of a layer as
// PackModel measures them, and prefill chunks of growing size while they are quick), so the
// coordinator's planner sees
// this node as it is. Flags may override any figure.
// Thread-safety: drives the backend from the calling thread.
#pragma once

#include <string>

#include "common/backend/backend.h"
#include "common/proto/strata_control.pb.h"
#include "common/util/status.h"

namespace strata::worker {

// Measures on a one-layer model over a middle layer of the pack (so no embedding or head is
// loaded). The registered budgets are the planner's: ResolveBudgets of the flags (0: the
// defaults), the GPU's less the backend's workspace (0, no limit, on the CPU backend).
StatusOr<control::v1::Capabilities> MeasureCapabilities(Backend& backend,
                                                        const std::string& pack_dir,
                                                        size_t gpu_bytes, size_t pinned_bytes);

}  // namespace strata::worker
