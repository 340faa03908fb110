// Text tables for `strata plan` (see plan_report.h).
#include "cli/plan_report.h"

#include <cstdarg>
#include <cstdio>

namespace strata::cli {
namespace {

std::string Format(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* format, ...) {
  char text[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  return text;
}

double GiB(size_t bytes) { return static_cast<double>(bytes) / (1u << 30); }

std::string WorkerName(const ClusterPlan& plan, size_t w) {
  return Format("%zu %s", w, plan.workers[w].name.c_str());
}

std::string LayerRange(const WorkerPlan& p) {
  return Format("%d-%d", p.first_layer, p.first_layer + p.layers() - 1);
}

std::string Distances(const PrefetchDistance& d) { return Format("%d/%d", d.ideal, d.capped); }

std::string PaceText(const PhaseTotals& t) {
  return Format("%s @%zu", std::string(StageName(t.pace_stage)).c_str(), t.pace_worker);
}

std::string WorkersTable(const ClusterSpec& cluster, const ClusterPlan& plan) {
  std::string out = Format("%-14s %-9s %5s %6s %5s %13s %13s %17s %17s\n", "worker", "layers",
                           "gpu", "pinned", "ssd", "prefetch s/h", "slots p/g", "GPU GiB used/of",
                           "pinned GiB used/of");
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    const WorkerPlan& p = plan.workers[w];
    const Residency& r = p.residency;
    out += Format("%-14s %-9s %5d %6d %5d %13s %13s %17s %17s\n", WorkerName(plan, w).c_str(),
                  LayerRange(p).c_str(), r.gpu_layers, r.pinned_layers, r.ssd_layers,
                  Format("%d/%d", r.prefetch_ssd, r.prefetch_h2d).c_str(),
                  Format("%d/%d", r.pinned_slots, r.gpu_slots).c_str(),
                  Format("%.2f/%.2f", GiB(r.gpu_used), GiB(cluster.workers[w].gpu_mem)).c_str(),
                  Format("%.2f/%.2f", GiB(r.pinned_used), GiB(cluster.workers[w].pinned_mem))
                      .c_str());
  }
  return out;
}

std::string PhaseTable(const ClusterPlan& plan, Phase phase) {
  const PhaseTotals& t = plan.phase(phase);
  std::string out = Format("\n%s: %d token%s per pass\n", std::string(PhaseName(phase)).c_str(),
                           t.tokens_per_pass, t.tokens_per_pass == 1 ? "" : "s");
  out += Format("%-14s %10s %10s %11s %11s %13s %10s %10s %10s %9s\n", "worker", "ssd ms",
                "h2d ms", "compute ms", "serial ms", "pipelined ms", "bottleneck", "D ssd i/c",
                "D h2d i/c", "hop ms");
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    const PhaseEstimate& e = plan.workers[w].phase(phase);
    out += Format("%-14s %10.2f %10.2f %11.2f %11.2f %13.2f %10s %10s %10s %9.3f\n",
                  WorkerName(plan, w).c_str(), e.ssd_ms, e.h2d_ms, e.compute_ms, e.serial_ms,
                  e.pipelined_ms, std::string(StageName(e.bottleneck)).c_str(),
                  Distances(e.prefetch_ssd).c_str(), Distances(e.prefetch_h2d).c_str(),
                  e.hop_ms);
  }
  out += Format("end to end: latency %.2f ms, pace %.2f ms (%s); %.2f tokens/s one pass at a "
                "time, %.2f tokens/s with %zu in flight\n",
                t.latency_ms, t.pace_ms, PaceText(t).c_str(), t.tokens_per_s_single,
                t.tokens_per_s_pipelined, plan.workers.size());
  return out;
}

}  // namespace

std::string PlanText(const ClusterSpec& cluster, const ClusterPlan& plan) {
  std::string out = Format(
      "%d layers of %.3f GiB over %zu worker%s; the split balances %s; max prefetch %d%s\n\n",
      cluster.model.layers, GiB(cluster.model.layer_bytes), plan.workers.size(),
      plan.workers.size() == 1 ? "" : "s",
      std::string(ObjectiveName(plan.options.objective)).c_str(), plan.options.max_prefetch,
      plan.options.force_tier
          ? (", every layer forced to " + std::string(TierName(*plan.options.force_tier))).c_str()
          : "");
  out += WorkersTable(cluster, plan);
  out += PhaseTable(plan, Phase::kPrefill);
  out += PhaseTable(plan, Phase::kDecode);
  out += "\nD i/c: prefetch distance ideal (ceil(transfer / compute)) / capped by the "
         "executor's distance and the streamed layers\n";
  return out;
}

std::string WhatIfText(const std::vector<WhatIfRow>& rows) {
  std::string out = Format("%5s  %-24s %5s %6s %5s %11s %11s %11s %11s  %s\n", "nodes",
                           "layers per node", "gpu", "pinned", "ssd", "prefill t/s",
                           "pipelined", "decode t/s", "N seqs", "pace (decode, prefill)");
  for (const WhatIfRow& row : rows) {
    if (!row.plan.ok()) {
      out += Format("%5d  does not fit: %s\n", row.nodes, row.plan.status().message().c_str());
      continue;
    }
    const ClusterPlan& plan = *row.plan;
    std::string split;
    int32_t gpu = 0, pinned = 0, ssd = 0;
    for (const WorkerPlan& p : plan.workers) {
      split += (split.empty() ? "" : ",") + std::to_string(p.layers());
      gpu += p.residency.gpu_layers;
      pinned += p.residency.pinned_layers;
      ssd += p.residency.ssd_layers;
    }
    out += Format("%5d  %-24s %5d %6d %5d %11.1f %11.1f %11.2f %11.2f  %s, %s\n", row.nodes,
                  split.c_str(), gpu, pinned, ssd, plan.prefill.tokens_per_s_single,
                  plan.prefill.tokens_per_s_pipelined, plan.decode.tokens_per_s_single,
                  plan.decode.tokens_per_s_pipelined, PaceText(plan.decode).c_str(),
                  PaceText(plan.prefill).c_str());
  }
  out += "\nprefill t/s: one chunk at a time; pipelined: one chunk in flight per node. decode "
         "t/s: one sequence; N seqs: one sequence in flight per node. pace: the stage @ the "
         "worker that limits the pipelined rate. gpu/pinned/ssd: layers in each tier, all "
         "nodes\n";
  return out;
}

}  // namespace strata::cli
