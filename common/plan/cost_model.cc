// Input validation and per-layer stage times (see cost_model.h).
#include "common/plan/cost_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/storage/pack_format.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

std::string WorkerLabel(const ClusterSpec& cluster, size_t w) {
  const std::string& name = cluster.workers[w].name;
  return "worker " + std::to_string(w) + (name.empty() ? "" : " (" + name + ")");
}

std::string Number(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Status RequirePositive(std::string_view where, std::string_view field, double value,
                       std::string_view unit) {
  if (std::isfinite(value) && value > 0) return OkStatus();
  return InvalidArgument(std::string(where) + ": " + std::string(field) + " must be a positive " +
                         std::string(unit) + ", got " + Number(value));
}

// Sizes are added and multiplied by layer counts; keep them far from overflow.
constexpr size_t kMaxBytes = size_t{1} << 50;  // 1 PiB

Status RequireSize(std::string_view where, std::string_view field, size_t value) {
  if (value <= kMaxBytes) return OkStatus();
  return InvalidArgument(std::string(where) + ": " + std::string(field) + " of " +
                         std::to_string(value) + " bytes is beyond 1 PiB; check its unit");
}

Status ValidateWorker(const ClusterSpec& cluster, size_t w) {
  const WorkerSpec& worker = cluster.workers[w];
  const std::string where = WorkerLabel(cluster, w);
  STRATA_RETURN_IF_ERROR(RequireSize(where, "gpu_mem", worker.gpu_mem));
  STRATA_RETURN_IF_ERROR(RequireSize(where, "pinned_mem", worker.pinned_mem));
  STRATA_RETURN_IF_ERROR(RequirePositive(where, "ssd_gbps", worker.ssd_gbps, "read rate in GB/s"));
  STRATA_RETURN_IF_ERROR(RequirePositive(where, "h2d_gbps", worker.h2d_gbps, "copy rate in GB/s"));
  STRATA_RETURN_IF_ERROR(
      RequirePositive(where, "prefill_ms", worker.prefill_ms, "time per layer in ms"));
  STRATA_RETURN_IF_ERROR(
      RequirePositive(where, "prefill_tokens", worker.prefill_tokens, "token count"));
  STRATA_RETURN_IF_ERROR(
      RequirePositive(where, "decode_ms", worker.decode_ms, "time per layer in ms"));
  return OkStatus();
}

}  // namespace

Status ValidateCluster(const ClusterSpec& cluster) {
  const ModelSpec& m = cluster.model;
  STRATA_RETURN_IF_ERROR(RequirePositive("model", "layers", m.layers, "layer count"));
  if (m.layer_bytes == 0) {
    return InvalidArgument("model: layer_bytes must be positive (one decoder layer's bytes)");
  }
  STRATA_RETURN_IF_ERROR(RequireSize("model", "layer_bytes", m.layer_bytes));
  STRATA_RETURN_IF_ERROR(ValidateSplitPoints(m.layer_split_points, m.layer_bytes)
                             .WithContext("model: layer_split_points"));
  STRATA_RETURN_IF_ERROR(RequireSize("model", "first_end_bytes", m.first_end_bytes));
  STRATA_RETURN_IF_ERROR(RequireSize("model", "last_end_bytes", m.last_end_bytes));
  STRATA_RETURN_IF_ERROR(
      RequireSize("model", "activation_bytes_per_token", m.activation_bytes_per_token));
  STRATA_RETURN_IF_ERROR(
      RequireSize("model", "kv_bytes_per_token_per_layer", m.kv_bytes_per_token_per_layer));
  STRATA_RETURN_IF_ERROR(
      RequireSize("model", "scratch_bytes_per_token", m.scratch_bytes_per_token));
  STRATA_RETURN_IF_ERROR(RequireSize("model", "scratch_fixed_bytes", m.scratch_fixed_bytes));

  const WorkloadSpec& load = cluster.workload;
  STRATA_RETURN_IF_ERROR(
      RequirePositive("workload", "prefill_chunk_tokens", load.prefill_chunk_tokens, "token count"));
  STRATA_RETURN_IF_ERROR(
      RequirePositive("workload", "decode_batch", load.decode_batch, "sequence count"));
  if (load.kv_tokens < 0 || load.kv_tokens > (int64_t{1} << 40)) {
    return InvalidArgument("workload: kv_tokens must be between 0 and 2^40, got " +
                           std::to_string(load.kv_tokens));
  }
  if (static_cast<double>(load.kv_tokens) * static_cast<double>(m.kv_bytes_per_token_per_layer) >
      static_cast<double>(kMaxBytes)) {
    return InvalidArgument("workload: kv_tokens times model kv_bytes_per_token_per_layer is "
                           "beyond 1 PiB per layer; check both");
  }

  if (cluster.link) {
    STRATA_RETURN_IF_ERROR(RequirePositive("link", "gbps", cluster.link->gbps, "rate in GB/s"));
    if (!std::isfinite(cluster.link->latency_ms) || cluster.link->latency_ms < 0) {
      return InvalidArgument("link: latency_ms must be a non-negative number of ms, got " +
                             Number(cluster.link->latency_ms));
    }
  }

  if (cluster.workers.empty()) {
    return InvalidArgument("the cluster has no workers; give --nodes or a workers array");
  }
  if (cluster.workers.size() > static_cast<size_t>(m.layers)) {
    return InvalidArgument(std::to_string(cluster.workers.size()) + " workers for " +
                           std::to_string(m.layers) +
                           " layers: every worker needs at least one layer; use at most " +
                           std::to_string(m.layers) + " workers");
  }
  for (size_t w = 0; w < cluster.workers.size(); ++w) {
    STRATA_RETURN_IF_ERROR(ValidateWorker(cluster, w));
  }
  return OkStatus();
}

Status ValidateSplitPoints(const std::vector<size_t>& points, size_t layer_bytes) {
  for (size_t i = 0; i < points.size(); ++i) {
    const size_t p = points[i];
    if (p == 0 || p >= layer_bytes || p % kDirectIoAlignment != 0 || (i > 0 && p <= points[i - 1])) {
      return InvalidArgument("split point " + std::to_string(i) + " (" + std::to_string(p) +
                             ") must be a multiple of " + std::to_string(kDirectIoAlignment) +
                             " above the previous one and below the layer's " +
                             std::to_string(layer_bytes) + " bytes");
    }
  }
  return OkStatus();
}

std::string_view PhaseName(Phase phase) {
  return phase == Phase::kPrefill ? "prefill" : "decode";
}

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kSsd: return "ssd";
    case Stage::kH2d: return "h2d";
    case Stage::kCompute: return "compute";
    case Stage::kLink: return "link";
  }
  return "?";
}

double LayerStages::pipelined_ms() const { return std::max({ssd_ms, h2d_ms, compute_ms}); }

Stage LayerStages::bottleneck() const {
  if (compute_ms >= ssd_ms && compute_ms >= h2d_ms) return Stage::kCompute;
  return ssd_ms >= h2d_ms ? Stage::kSsd : Stage::kH2d;
}

double TransferMs(size_t bytes, double gbps) {
  return static_cast<double>(bytes) / (gbps * 1e6);
}

double ComputeMs(const WorkerSpec& worker, const WorkloadSpec& workload, Phase phase) {
  if (phase == Phase::kDecode) return worker.decode_ms;
  return worker.prefill_ms * workload.prefill_chunk_tokens / worker.prefill_tokens;
}

LayerStages StagesFor(const WorkerSpec& worker, const ModelSpec& model,
                      const WorkloadSpec& workload, Tier tier, Phase phase) {
  LayerStages s;
  s.compute_ms = ComputeMs(worker, workload, phase);
  if (tier != Tier::kGpu) s.h2d_ms = TransferMs(model.layer_bytes, worker.h2d_gbps);
  if (tier == Tier::kSsd) s.ssd_ms = TransferMs(model.layer_bytes, worker.ssd_gbps);
  return s;
}

int32_t IdealPrefetch(double transfer_ms, double compute_ms) {
  if (transfer_ms <= 0) return 0;
  const double d = std::ceil(transfer_ms / std::max(compute_ms, 1e-9));
  return static_cast<int32_t>(std::min(d, double{std::numeric_limits<int32_t>::max()}));
}

}  // namespace strata
