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

// "k x P MB": the first k streamed layers keep P MB each on the GPU; "-" for none.
std::string Prefixes(const Placement& p) {
  if (p.gpu_prefix_layers == 0) return "-";
  return Format("%dx%.0fMB", p.gpu_prefix_layers, static_cast<double>(p.gpu_prefix_bytes) / 1e6);
}

std::string WorkersTable(const ClusterSpec& cluster, const ClusterPlan& plan) {
  std::string out = Format("%-14s %-9s %5s %6s %5s %12s %11s %10s %6s %17s %17s\n", "worker",
                           "layers", "gpu", "pinned", "ssd", "gpu prefixes", "ssd GiB/pass",
                           "slots g/r", "embed", "GPU GiB used/of", "pinned GiB used/of");
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    const WorkerPlan& p = plan.workers[w];
    const Placement& r = p.placement;
    out += Format("%-14s %-9s %5d %6d %5d %12s %11.2f %10s %6s %17s %17s\n",
                  WorkerName(plan, w).c_str(), LayerRange(p).c_str(), r.gpu_layers,
                  r.pinned_layers, r.ssd_layers(), Prefixes(r).c_str(),
                  Gib(r.ssd_bytes_per_pass()),
                  Format("%d/%d", r.gpu_slots, r.staging_chunks).c_str(),
                  w == 0 ? (r.embed_on_gpu ? "gpu" : "host") : "-",
                  Format("%.2f/%.2f", Gib(r.gpu.total()), Gib(cluster.workers[w].gpu_mem)).c_str(),
                  Format("%.2f/%.2f", Gib(r.pinned.total()), Gib(cluster.workers[w].pinned_mem))
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

double Gib(size_t bytes) { return static_cast<double>(bytes) / (1u << 30); }

std::string PlacementSummary(const Placement& p, const WorkerSpec& budgets) {
  const auto memory = [](const MemoryUse& m) {
    return Format("layers %.3f + staging %.3f + ends %.3f + runtime %.3f = %.3f GiB", Gib(m.layers),
                  Gib(m.staging), Gib(m.ends), Gib(m.runtime), Gib(m.total()));
  };
  const std::string prefixes =
      p.gpu_prefix_layers == 0
          ? ""
          : Format("; the first %d streamed keep %.1f MB each on the GPU", p.gpu_prefix_layers,
                   static_cast<double>(p.gpu_prefix_bytes) / 1e6);
  std::string out = Format(
      "placement: %d layers: %d gpu, %d pinned, %d read from the SSD (%.3f GiB of their bytes "
      "pinned, spread so each reads the same)%s; %.3f GB from the SSD per pass; %d GPU slot%s "
      "of %.1f MB, a ring of %d chunks of %zu MiB; embedding %s\n",
      p.layers, p.gpu_layers, p.pinned_layers, p.ssd_layers(), Gib(p.spread_pinned_bytes),
      prefixes.c_str(), static_cast<double>(p.ssd_bytes_per_pass()) / 1e9, p.gpu_slots,
      p.gpu_slots == 1 ? "" : "s", static_cast<double>(p.slot_bytes()) / 1e6, p.staging_chunks,
      p.chunk_bytes >> 20, p.embed_on_gpu ? "on the GPU" : "gathered from host memory");
  out += "  GPU    " + memory(p.gpu) + Format(" of %.3f GiB\n", Gib(budgets.gpu_mem));
  out += "  pinned " + memory(p.pinned) + Format(" of %.3f GiB", Gib(budgets.pinned_mem));
  return out;
}

std::string PlanText(const ClusterSpec& cluster, const ClusterPlan& plan) {
  const std::optional<Tier>& forced = plan.options.overrides.force_tier;
  std::string out = Format(
      "%d layers of %.3f GiB over %zu worker%s; the split balances %s%s\n\n",
      cluster.model.layers, Gib(cluster.model.layer_bytes), plan.workers.size(),
      plan.workers.size() == 1 ? "" : "s",
      std::string(ObjectiveName(plan.options.objective)).c_str(),
      forced ? (", every layer forced to " + std::string(TierName(*forced))).c_str() : "");
  out += WorkersTable(cluster, plan);
  out += PhaseTable(plan, Phase::kPrefill);
  out += PhaseTable(plan, Phase::kDecode);
  out += "\nssd: layers read (partly) from the SSD every pass, pinned bytes spread so each "
         "reads the same; gpu prefixes: the first k streamed layers keep their first MB on the "
         "GPU (k x MB); slots g/r: GPU staging slots / SSD staging ring chunks of " +
         Format("%zu MiB", kStagingChunkBytes >> 20) +
         "; embed: the embedding table on the GPU or gathered from host memory. D i/c: "
         "prefetch distance ideal (ceil(transfer / compute)) / what the placement gives\n";
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
      gpu += p.placement.gpu_layers;
      pinned += p.placement.pinned_layers;
      ssd += p.placement.ssd_layers();
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
