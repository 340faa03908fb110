// Home tiers for one worker's layers under its memory budgets: GPU first, then pinned,
// then SSD, after reserving what streaming costs — the staging slots of the executor
// (prefetch_ssd + 1 pinned slots when a layer is read from SSD, prefetch_h2d + 1 GPU slots
// when any layer is copied, never more slots than such layers) — and what the GPU holds
// besides layers (the ends on the first and last worker, the KV cache of every layer).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>

#include "common/plan/cost_model.h"

namespace strata {

struct ResidencyOptions {
  int32_t max_prefetch = 4;        // as the executor's automatic choice (pack_model.cc)
  std::optional<Tier> force_tier;  // every layer in this tier, or an error if it does not fit
};

// One worker's layers by tier (GPU, then pinned, then SSD, in pipeline order), the
// prefetch distances to give its executor, and its memory use.
struct Residency {
  int32_t gpu_layers = 0;
  int32_t pinned_layers = 0;
  int32_t ssd_layers = 0;
  int32_t prefetch_ssd = 0;  // executor distances; 0 where that stream carries no layer
  int32_t prefetch_h2d = 0;
  int32_t pinned_slots = 0;  // min(ssd_layers, prefetch_ssd + 1)
  int32_t gpu_slots = 0;     // min(pinned_layers + ssd_layers, prefetch_h2d + 1)
  size_t slot_bytes = 0;     // a layer rounded up to 4 KiB, as the executor's slots
  size_t gpu_other_bytes = 0;  // ends and KV cache
  size_t gpu_used = 0;         // resident layers + GPU slots + gpu_other_bytes
  size_t pinned_used = 0;      // resident layers + pinned slots

  int32_t layers() const { return gpu_layers + pinned_layers + ssd_layers; }
};

// The distances the executor should run each stream ahead: the seed analysis'
// ceil(transfer / compute), the larger of prefill and decode, between 1 and max_prefetch.
int32_t SlotPrefetch(double transfer_ms, const WorkerSpec& worker, const WorkloadSpec& workload,
                     int32_t max_prefetch);

// Homes `layers` layers on worker `w` of `cluster` (first and last hold the ends).
// kResourceExhausted, saying what does not fit and what to do, when even streaming every
// layer leaves too little memory for the staging slots, or the forced tier does not fit.
StatusOr<Residency> FitLayers(const ClusterSpec& cluster, size_t w, int32_t layers,
                              const ResidencyOptions& options);

}  // namespace strata
