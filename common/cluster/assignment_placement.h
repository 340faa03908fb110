// A stage's placement (common/plan/placement.h) as the Assignment carries it from the
// coordinator to a worker: written by the coordinator, read and checked by the worker, so
// both sides name the same fields in one place. Thread-safety: pure functions.
#pragma once

#include <cstddef>

#include "common/plan/placement.h"
#include "common/proto/strata_control.pb.h"
#include "common/util/status.h"

namespace strata::cluster {

// Sets the assignment's placement fields (not its layer range or limits) from `placement`.
void WritePlacement(const Placement& placement, control::v1::Assignment& assignment);

// The placement an assignment carries, over layers of `layer_bytes` (the largest extent of
// its range in the worker's pack). kInvalidArgument naming the field for counts that do not
// fit the range or a GPU prefix that is not inside a layer; the executor checks the rest.
StatusOr<Placement> ReadPlacement(const control::v1::Assignment& assignment, size_t layer_bytes);

}  // namespace strata::cluster
