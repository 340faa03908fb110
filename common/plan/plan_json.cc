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

Json WorkerJson(const ClusterSpec& cluster, size_t w, const WorkerPlan& p) {
  const Residency& r = p.residency;
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
          {"tiers", {{"gpu", r.gpu_layers}, {"pinned", r.pinned_layers}, {"ssd", r.ssd_layers}}},
          {"prefetch_ssd", r.prefetch_ssd},
          {"prefetch_h2d", r.prefetch_h2d},
          {"pinned_slots", r.pinned_slots},
          {"gpu_slots", r.gpu_slots},
          {"slot_bytes", r.slot_bytes},
          {"gpu_bytes", {{"used", r.gpu_used}, {"other", r.gpu_other_bytes}, {"budget", spec.gpu_mem}}},
          {"pinned_bytes", {{"used", r.pinned_used}, {"budget", spec.pinned_mem}}},
          {"layer_stages", per_layer},
          {"prefill", PhaseJson(p.prefill)},
          {"decode", PhaseJson(p.decode)}};
}

}  // namespace

nlohmann::json PlanToJson(const ClusterSpec& cluster, const ClusterPlan& plan) {
  Json workers = Json::array();
  for (size_t w = 0; w < plan.workers.size(); ++w) {
    workers.push_back(WorkerJson(cluster, w, plan.workers[w]));
  }
  Json options = {{"objective", ObjectiveName(plan.options.objective)},
                  {"max_prefetch", plan.options.max_prefetch}};
  if (plan.options.force_tier) options["force_tier"] = TierName(*plan.options.force_tier);
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
