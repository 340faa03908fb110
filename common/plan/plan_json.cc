// PlanToJson (see plan_json.h).
#include "common/plan/plan_json.h"

#include <string>

namespace strata {
namespace {

using Json = nlohmann::json;

Json StagesJson(const LayerStages& s) {
  return {{"ssd_ms", s.ssd_ms},           {"h2d_ms", s.h2d_ms},
          {"compute_ms", s.compute_ms},   {"serial_ms", s.serial_ms()},
          {"pipelined_ms", s.pipelined_ms()}, {"bottleneck", StageName(s.bottleneck())}};
}

Json PhaseJson(const PhaseEstimate& e) {
  return {{"ssd_ms", e.ssd_ms},
          {"h2d_ms", e.h2d_ms},
          {"compute_ms", e.compute_ms},
          {"serial_ms", e.serial_ms},
          {"pipelined_ms", e.pipelined_ms},
          {"bottleneck", StageName(e.bottleneck)},
          {"hop_ms", e.hop_ms},
          {"prefetch_ssd", {{"ideal", e.prefetch_ssd.ideal}, {"capped", e.prefetch_ssd.capped}}},
          {"prefetch_h2d", {{"ideal", e.prefetch_h2d.ideal}, {"capped", e.prefetch_h2d.capped}}}};
}

Json TotalsJson(const PhaseTotals& t) {
  return {{"tokens_per_pass", t.tokens_per_pass},
          {"latency_ms", t.latency_ms},
          {"pace_ms", t.pace_ms},
          {"pace_worker", t.pace_worker},
          {"pace_stage", StageName(t.pace_stage)},
          {"tokens_per_s_single", t.tokens_per_s_single},
          {"tokens_per_s_pipelined", t.tokens_per_s_pipelined}};
}

Json MemoryJson(const MemoryUse& m, size_t budget) {
  return {{"layers", m.layers}, {"staging", m.staging}, {"ends", m.ends},
          {"runtime", m.runtime}, {"total", m.total()}, {"budget", budget}};
}

Json WorkerJson(const ClusterSpec& cluster, size_t w, const WorkerPlan& p) {
  const WorkerSpec& spec = cluster.workers[w];
  Json per_layer;
  for (Tier tier : {Tier::kGpu, Tier::kPinned, Tier::kSsd}) {
    for (Phase phase : {Phase::kPrefill, Phase::kDecode}) {
      per_layer[std::string(TierName(tier))][std::string(PhaseName(phase))] =
          StagesJson(StagesFor(spec, cluster.model, cluster.workload, tier, phase));
    }
  }
  return {{"name", p.name},
          {"first_layer", p.first_layer},
          {"layers", p.layers()},
          {"placement", PlacementToJson(p.placement, spec)},
          {"layer_stages", per_layer},
          {"prefill", PhaseJson(p.prefill)},
          {"decode", PhaseJson(p.decode)}};
}

}  // namespace

nlohmann::json PlacementToJson(const Placement& p, const WorkerSpec& budgets) {
  return {{"layers", p.layers},
          {"layer_bytes", p.layer_bytes},
          {"tiers",
           {{"gpu", p.gpu_layers}, {"pinned", p.pinned_layers}, {"ssd", p.ssd_layers()}}},
          {"spread_pinned_bytes", p.spread_pinned_bytes},
          {"gpu_prefix_layers", p.gpu_prefix_layers},
          {"gpu_prefix_bytes", p.gpu_prefix_bytes},
          {"slot_bytes", p.slot_bytes()},
          {"ssd_bytes_per_pass", p.ssd_bytes_per_pass()},
          {"gpu_slots", p.gpu_slots},
          {"staging_chunks", p.staging_chunks},
          {"chunk_bytes", p.chunk_bytes},
          {"embedding", p.embed_on_gpu ? "gpu" : "host"},
          {"gpu_bytes", MemoryJson(p.gpu, budgets.gpu_mem)},
          {"pinned_bytes", MemoryJson(p.pinned, budgets.pinned_mem)}};
}

nlohmann::json PlanToJson(const ClusterSpec& cluster, const ClusterPlan& plan) {
  Json workers = Json::array();
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    workers.push_back(WorkerJson(cluster, w, plan.workers[w]));
  }
  const PlacementOverrides& o = plan.options.overrides;
  Json options = {{"objective", ObjectiveName(plan.options.objective)}};
  if (o.force_tier) options["force_tier"] = TierName(*o.force_tier);
  if (o.prefetch_ssd >= 0) options["prefetch_ssd"] = o.prefetch_ssd;
  if (o.prefetch_h2d >= 0) options["prefetch_h2d"] = o.prefetch_h2d;
  return {{"options", options},
          {"model",
           {{"layers", cluster.model.layers}, {"layer_bytes", cluster.model.layer_bytes}}},
          {"workload",
           {{"prefill_chunk_tokens", cluster.workload.prefill_chunk_tokens},
            {"decode_batch", cluster.workload.decode_batch},
            {"kv_tokens", cluster.workload.kv_tokens}}},
          {"workers", workers},
          {"prefill", TotalsJson(plan.prefill)},
          {"decode", TotalsJson(plan.decode)}};
}

}  // namespace strata
