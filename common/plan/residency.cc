// Fitting a worker's layers into its budgets (see residency.h).
#include "common/plan/residency.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace strata {
namespace {

constexpr size_t kSlotAlign = 4096;  // the executor's slots are page-aligned

std::string GiB(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1u << 30));
  return text;
}

// Bytes for `resident` layers kept in a memory plus the slots streaming the other
// `streamed` layers through it (at most `max_slots`, never more than the streamed layers).
size_t TierBytes(int32_t resident, int32_t streamed, int32_t max_slots, size_t layer_bytes,
                 size_t slot_bytes) {
  return static_cast<size_t>(resident) * layer_bytes +
         static_cast<size_t>(std::min(streamed, max_slots)) * slot_bytes;
}

// The most of `layers` that stay resident in `budget` bytes while the rest stream through
// it; none when even streaming all of them does not fit their slots.
std::optional<int32_t> MostResident(int32_t layers, int32_t max_slots, size_t layer_bytes,
                                    size_t slot_bytes, size_t budget) {
  for (int32_t resident = layers; resident >= 0; --resident) {
    if (TierBytes(resident, layers - resident, max_slots, layer_bytes, slot_bytes) <= budget) {
      return resident;
    }
  }
  return std::nullopt;
}

std::string WorkerLabel(const ClusterSpec& cluster, size_t w) {
  const std::string& name = cluster.workers[w].name;
  return "worker " + std::to_string(w) + (name.empty() ? "" : " (" + name + ")");
}

// What the GPU holds besides the layers, in words, for error messages.
std::string OtherGpuBytes(const ClusterSpec& cluster, size_t w, int32_t layers) {
  const ModelSpec& m = cluster.model;
  std::string text;
  const auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (w == 0 && m.first_end_bytes > 0) add("embedding " + GiB(m.first_end_bytes));
  if (w + 1 == cluster.workers.size() && m.last_end_bytes > 0) {
    add("LM head " + GiB(m.last_end_bytes));
  }
  const size_t kv = m.kv_bytes_per_token_per_layer * static_cast<size_t>(cluster.workload.kv_tokens);
  if (kv > 0) {
    add("KV cache " + GiB(kv * static_cast<size_t>(layers)) + " for " +
        std::to_string(cluster.workload.kv_tokens) + " tokens in " + std::to_string(layers) +
        " layers");
  }
  return text;
}

}  // namespace

int32_t SlotPrefetch(double transfer_ms, const WorkerSpec& worker, const WorkloadSpec& workload,
                     int32_t max_prefetch) {
  const int32_t ideal =
      std::max(IdealPrefetch(transfer_ms, ComputeMs(worker, workload, Phase::kPrefill)),
               IdealPrefetch(transfer_ms, ComputeMs(worker, workload, Phase::kDecode)));
  return std::clamp(ideal, 1, max_prefetch);
}

StatusOr<Residency> FitLayers(const ClusterSpec& cluster, size_t w, int32_t layers,
                              const ResidencyOptions& options) {
  const WorkerSpec& worker = cluster.workers[w];
  const ModelSpec& m = cluster.model;
  const std::string where = WorkerLabel(cluster, w) + " with " + std::to_string(layers) +
                            " layer" + (layers == 1 ? "" : "s");
  Residency r;
  r.slot_bytes = (m.layer_bytes + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  if (w == 0) r.gpu_other_bytes += m.first_end_bytes;
  if (w + 1 == cluster.workers.size()) r.gpu_other_bytes += m.last_end_bytes;
  r.gpu_other_bytes += m.kv_bytes_per_token_per_layer *
                       static_cast<size_t>(cluster.workload.kv_tokens) *
                       static_cast<size_t>(layers);
  if (r.gpu_other_bytes > worker.gpu_mem) {
    return ResourceExhausted(where + ": the GPU needs " + GiB(r.gpu_other_bytes) + " for the " +
                             OtherGpuBytes(cluster, w, layers) + " but gpu_mem is " +
                             GiB(worker.gpu_mem) +
                             "; give the worker more GPU memory (or reserve fewer KV-cache tokens)");
  }
  const size_t gpu_budget = worker.gpu_mem - r.gpu_other_bytes;
  const int32_t d_ssd = SlotPrefetch(TransferMs(m.layer_bytes, worker.ssd_gbps), worker,
                                     cluster.workload, options.max_prefetch);
  const int32_t d_h2d = SlotPrefetch(TransferMs(m.layer_bytes, worker.h2d_gbps), worker,
                                     cluster.workload, options.max_prefetch);

  // GPU: as many layers as fit beside the GPU slots the others need.
  const auto gpu = options.force_tier
                       ? std::optional<int32_t>(*options.force_tier == Tier::kGpu ? layers : 0)
                       : MostResident(layers, d_h2d + 1, m.layer_bytes, r.slot_bytes, gpu_budget);
  if (!gpu || TierBytes(*gpu, layers - *gpu, d_h2d + 1, m.layer_bytes, r.slot_bytes) > gpu_budget) {
    const int32_t want = gpu ? *gpu : 0;
    return ResourceExhausted(
        where + ": " + std::to_string(want) + " GPU-resident layers and " +
        std::to_string(std::min(layers - want, d_h2d + 1)) + " GPU staging slots need " +
        GiB(TierBytes(want, layers - want, d_h2d + 1, m.layer_bytes, r.slot_bytes)) +
        " of GPU memory" +
        (r.gpu_other_bytes > 0 ? " besides the " + OtherGpuBytes(cluster, w, layers) : "") +
        " but only " + GiB(gpu_budget) +
        " of gpu_mem " + GiB(worker.gpu_mem) +
        " is left; give the worker more GPU memory, fewer layers (more workers) or a lower "
        "max prefetch");
  }
  r.gpu_layers = *gpu;
  const int32_t streamed = layers - r.gpu_layers;

  // Pinned: as many of the rest as fit beside the pinned slots the SSD layers need.
  const auto pinned =
      options.force_tier
          ? std::optional<int32_t>(*options.force_tier == Tier::kPinned ? streamed : 0)
          : MostResident(streamed, d_ssd + 1, m.layer_bytes, r.slot_bytes, worker.pinned_mem);
  if (!pinned || TierBytes(*pinned, streamed - *pinned, d_ssd + 1, m.layer_bytes,
                           r.slot_bytes) > worker.pinned_mem) {
    const int32_t want = pinned ? *pinned : 0;
    return ResourceExhausted(
        where + ": " + std::to_string(want) + " pinned-resident layers and " +
        std::to_string(std::min(streamed - want, d_ssd + 1)) + " pinned staging slots need " +
        GiB(TierBytes(want, streamed - want, d_ssd + 1, m.layer_bytes, r.slot_bytes)) +
        " of pinned memory but pinned_mem is " + GiB(worker.pinned_mem) +
        "; give the worker more pinned memory, fewer layers (more workers) or a lower max "
        "prefetch");
  }
  r.pinned_layers = *pinned;
  r.ssd_layers = streamed - r.pinned_layers;

  if (r.ssd_layers > 0) {
    r.prefetch_ssd = d_ssd;
    r.pinned_slots = std::min(r.ssd_layers, d_ssd + 1);
  }
  if (streamed > 0) {
    r.prefetch_h2d = d_h2d;
    r.gpu_slots = std::min(streamed, d_h2d + 1);
  }
  r.gpu_used = TierBytes(r.gpu_layers, streamed, d_h2d + 1, m.layer_bytes, r.slot_bytes) +
               r.gpu_other_bytes;
  r.pinned_used =
      TierBytes(r.pinned_layers, r.ssd_layers, d_ssd + 1, m.layer_bytes, r.slot_bytes);
  return r;
}

}  // namespace strata
