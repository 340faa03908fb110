// From flags to a running PackModel on this machine: a pack range's StageShape (its extents
// and where a layer may be cut between tensors, the engine's memory for the engine options,
// the backend's workspace), the budgets (given, or the defaults below), the stage times
// measured on the backend when streaming makes them matter, PlaceStage, and the
// PackModelOptions that execute the result. The one path for `strata generate`, `strata
// bench` and the worker's self-benchmark; a cluster worker executes the placement its
// assignment carries through ExecutionOptions.
// Thread-safety: uses the backend from the calling thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/backend/backend.h"
#include "common/engine/pack_model.h"
#include "common/engine/stage_probe.h"
#include "common/plan/placement.h"

namespace strata {

// The share of a device's memory the GPU budget defaults to: the rest is headroom for the
// CUDA context and other processes.
inline constexpr double kDefaultGpuMemShare = 0.9;

// A stage's memory budgets: each given one, or its default — the GPU kDefaultGpuMemShare of
// the device's memory (no limit on a backend computing in host memory), pinned memory half
// the host memory available now. The one rule `strata generate`, `strata bench` and the
// worker (which reports them to the coordinator) resolve a 0 flag by.
struct MemoryBudgets {
  size_t gpu = 0;
  size_t pinned = 0;
};
MemoryBudgets ResolveBudgets(const Backend& backend, size_t gpu_mem, size_t pinned_mem);

// Whether streamed layers are checked against the pack's xxh3 as they arrive, unless a flag
// says otherwise (--no-verify-streamed): on, so a corrupt or short read fails the step
// (kDataLoss) instead of computing on wrong weights. The hash runs on the host thread that
// orders the copies while the disk reads ahead, at well over an NVMe drive's bandwidth;
// docs/benchmarks.md measures the cost.
inline constexpr bool kVerifyStreamedByDefault = true;

struct PackPlacementRequest {
  int32_t first_layer = 0;
  int32_t num_layers = -1;  // -1: to the pack's last layer
  size_t gpu_mem = 0;       // 0: the default (ResolveBudgets)
  size_t pinned_mem = 0;    // 0: the default (ResolveBudgets)
  PlacementOverrides overrides;
  ServingLimits engine;
  ReaderOptions reader;
  bool verify_streamed = kVerifyStreamedByDefault;
  int32_t decode_batch = 1;  // sequences per decode step the prediction assumes
};

struct PackPlacement {
  StageShape shape;
  WorkerSpec worker;      // the budgets and speeds it was placed with
  WorkloadSpec workload;
  std::optional<StageEstimate> measured;  // when stage times were measured
  Placement placement;
  PackModelOptions options;  // what PackModel::Open takes to execute it
};

// Whether `backend` computes with the weights of a `dtype` pack (at `dir`, for the message):
// kUnimplemented naming what does otherwise.
Status CheckBackendRunsPack(const Backend& backend, PackDType dtype, const std::string& dir);

// Errors: CheckBackendRunsPack's; Pack::Open's; a range outside the pack (kInvalidArgument); the probe's;
// PlaceStage's (kResourceExhausted stating each budget's minimum, kInvalidArgument).
StatusOr<PackPlacement> PlacePack(Backend& backend, const std::string& dir,
                                  const PackPlacementRequest& request);

// The PackModelOptions that execute `placement` over pack layers
// [first_layer, first_layer + placement.layers).
PackModelOptions ExecutionOptions(const Placement& placement, int32_t first_layer,
                                  const ServingLimits& engine, const ReaderOptions& reader,
                                  bool verify_streamed);

}  // namespace strata
