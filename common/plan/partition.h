// Exact linear partition: splits `layers` identical layers into contiguous ranges, one per
// worker in pipeline order, each at least one layer, minimising the largest worker cost
// (the pace of a pipelined cluster) and, among the splits that reach it, the sum of the
// costs (one pass's latency). Costs may differ per worker (heterogeneous nodes) and need
// not be monotone. Dynamic programming: O(workers × layers²) cost look-ups.
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace strata {

// Worker `w`'s cost with `layers` layers, or nullopt when it cannot hold them.
using WorkerCost = std::function<std::optional<double>(size_t w, int32_t layers)>;

// Layers per worker (sums to `layers`), or nullopt when no split fits every worker.
// Needs 1 <= workers <= layers.
std::optional<std::vector<int32_t>> PartitionLayers(size_t workers, int32_t layers,
                                                    const WorkerCost& cost);

}  // namespace strata
