// Exact linear partition: splits `layers` identical layers into contiguous ranges, one per
// worker in pipeline order, each at least one layer, minimising in this order: the largest
// primary cost (the pace of a pipelined cluster in the phase being balanced), the largest
// secondary cost (the other phase's pace, which would otherwise be left to chance when the
// first has many optima), and the sum of the primary costs (one pass's latency). Costs may
// differ per worker (heterogeneous nodes) and need not be monotone. Dynamic programming:
// O(workers × layers²) per pass.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace strata {

struct WorkerCosts {
  double primary = 0;
  double secondary = 0;
};

// Worker `w`'s costs with `layers` layers, or nullopt when it cannot hold them.
using WorkerCost = std::function<std::optional<WorkerCosts>(size_t w, int32_t layers)>;

// Layers per worker (sums to `layers`), or nullopt when no split fits every worker.
// Needs 1 <= workers <= layers.
std::optional<std::vector<int32_t>> PartitionLayers(size_t workers, int32_t layers,
                                                    const WorkerCost& cost);

}  // namespace strata
