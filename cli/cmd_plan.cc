// `strata plan`: splits a model over a cluster and predicts its speed, from flags (N
// identical nodes; every figure defaults to an RTX 5080 node and Llama 3.1 70B from the
// seed measurements) or from a cluster file (heterogeneous workers). --what-if A-B sweeps
// the number of nodes, to size a cluster before buying it; --json prints the plan as JSON.
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/plan_report.h"
#include "common/plan/cluster_file.h"
#include "common/plan/model_spec.h"
#include "common/plan/plan_json.h"
#include "common/plan/presets.h"
#include "common/storage/pack_format.h"
#include "common/util/byte_size.h"

namespace strata::cli {
namespace {

struct PlanFlags {
  std::string cluster_file;
  int32_t nodes = 1;
  std::string what_if;
  std::string dtype = "fp8";
  // Node and model figures; unset ones come from the presets for --dtype.
  std::string gpu_mem, pinned_mem, layer_bytes, first_end_bytes, last_end_bytes;
  double ssd_gbps = 0, h2d_gbps = 0, prefill_ms = 0, decode_ms = 0;
  int32_t prefill_tokens = 0, layers = 0;
  // Workload and link.
  int32_t chunk_tokens = 2048, decode_batch = 1;
  int64_t kv_tokens = 0;
  double link_gbps = 0, link_latency_ms = 0;
  // Planner.
  std::string objective = "decode";
  int32_t prefetch_ssd = -1, prefetch_h2d = -1;
  std::string force_tier;
  bool all_ssd = false;
  bool json = false;
};

// Parses "A-B" or "N" into the node counts to sweep.
StatusOr<std::pair<int32_t, int32_t>> ParseRange(const std::string& text) {
  const auto bad = [&] {
    return InvalidArgument("--what-if takes a node count or a range such as 1-8, got \"" + text +
                           "\"");
  };
  const std::string::size_type dash = text.find('-');
  const std::string first = text.substr(0, dash);
  const std::string last = dash == std::string::npos ? first : text.substr(dash + 1);
  int32_t a = 0, b = 0;
  const auto parse = [](const std::string& s, int32_t& v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size();
  };
  if (!parse(first, a) || !parse(last, b) || a < 1 || b < a || b > 1024) return bad();
  return std::make_pair(a, b);
}

StatusOr<ClusterSpec> ClusterFromFlags(const PlanFlags& f, const CLI::App& cmd, int32_t nodes) {
  const PackDType dtype = *ParsePackDType(f.dtype);
  ClusterSpec cluster;
  cluster.model = Llama31_70B(dtype);
  WorkerSpec node = Rtx5080Node(dtype);
  const auto given = [&](const char* name) { return cmd.get_option(name)->count() > 0; };
  const auto size = [&](const char* name, const std::string& text, size_t& out) -> Status {
    if (!given(name)) return OkStatus();
    STRATA_ASSIGN_OR_RETURN(out, ParseByteSize(name, text));
    return OkStatus();
  };
  STRATA_RETURN_IF_ERROR(size("--gpu-mem", f.gpu_mem, node.gpu_mem));
  STRATA_RETURN_IF_ERROR(size("--pinned-mem", f.pinned_mem, node.pinned_mem));
  size_t layer_bytes = cluster.model.layer_bytes;
  STRATA_RETURN_IF_ERROR(size("--layer-bytes", f.layer_bytes, layer_bytes));
  cluster.model = WithLayerBytes(std::move(cluster.model), layer_bytes);
  STRATA_RETURN_IF_ERROR(size("--first-end-bytes", f.first_end_bytes,
                              cluster.model.first_end_bytes));
  STRATA_RETURN_IF_ERROR(size("--last-end-bytes", f.last_end_bytes,
                              cluster.model.last_end_bytes));
  if (given("--ssd-gbps")) node.ssd_gbps = f.ssd_gbps;
  if (given("--h2d-gbps")) node.h2d_gbps = f.h2d_gbps;
  if (given("--prefill-ms")) node.prefill_ms = f.prefill_ms;
  if (given("--prefill-tokens")) node.prefill_tokens = f.prefill_tokens;
  if (given("--decode-ms")) node.decode_ms = f.decode_ms;
  if (given("--layers")) cluster.model.layers = f.layers;
  cluster.workload = {f.chunk_tokens, f.decode_batch, f.kv_tokens};
  if (given("--link-gbps")) cluster.link = LinkSpec{f.link_gbps, f.link_latency_ms};
  for (int32_t n = 0; n < nodes; ++n) {
    cluster.workers.push_back(node);
    cluster.workers.back().name = "node-" + std::to_string(n);
  }
  return cluster;
}

PlanOptions OptionsFromFlags(const PlanFlags& f) {
  PlanOptions options;
  options.objective = *ParseObjective(f.objective);
  options.overrides.prefetch_ssd = f.prefetch_ssd;
  options.overrides.prefetch_h2d = f.prefetch_h2d;
  if (f.all_ssd) options.overrides.force_tier = Tier::kSsd;
  if (!f.force_tier.empty()) options.overrides.force_tier = *ParseTier(f.force_tier);
  return options;
}

Status RunWhatIf(const PlanFlags& f, const CLI::App& cmd, const PlanOptions& options) {
  STRATA_ASSIGN_OR_RETURN(auto range, ParseRange(f.what_if));
  std::vector<WhatIfRow> rows;
  for (int32_t n = range.first; n <= range.second; ++n) {
    WhatIfRow row;
    row.nodes = n;
    STRATA_ASSIGN_OR_RETURN(row.cluster, ClusterFromFlags(f, cmd, n));
    row.plan = PlanCluster(row.cluster, options);
    // Bad flags are wrong for every size; only a size that does not fit is a row.
    if (!row.plan.ok() && row.plan.status().code() != StatusCode::kResourceExhausted &&
        static_cast<size_t>(n) <= static_cast<size_t>(row.cluster.model.layers)) {
      return row.plan.status();
    }
    rows.push_back(std::move(row));
  }
  if (!f.json) {
    std::fputs(WhatIfText(rows).c_str(), stdout);
    return OkStatus();
  }
  nlohmann::json out = nlohmann::json::array();
  for (const WhatIfRow& row : rows) {
    out.push_back(row.plan.ok()
                      ? nlohmann::json{{"nodes", row.nodes},
                                       {"plan", PlanToJson(row.cluster, *row.plan)}}
                      : nlohmann::json{{"nodes", row.nodes},
                                       {"error", row.plan.status().message()}});
  }
  std::printf("%s\n", out.dump(2).c_str());
  return OkStatus();
}

Status RunPlan(const PlanFlags& f, const CLI::App& cmd) {
  const PlanOptions options = OptionsFromFlags(f);
  if (!f.what_if.empty()) return RunWhatIf(f, cmd, options);
  ClusterSpec cluster;
  if (!f.cluster_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(cluster, LoadClusterFile(f.cluster_file));
  } else {
    STRATA_ASSIGN_OR_RETURN(cluster, ClusterFromFlags(f, cmd, f.nodes));
  }
  STRATA_ASSIGN_OR_RETURN(const ClusterPlan plan, PlanCluster(cluster, options));
  if (f.json) {
    std::printf("%s\n", PlanToJson(cluster, plan).dump(2).c_str());
  } else {
    std::fputs(PlanText(cluster, plan).c_str(), stdout);
  }
  return OkStatus();
}

}  // namespace

void AddPlanCommand(CLI::App& app, CommandRunner& run) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Split a model over a cluster: layers per worker, tiers, prefetch, predicted "
              "speed (defaults: RTX 5080 nodes, Llama 3.1 70B, from the seed measurements)");
  auto* cluster = cmd->add_option("--cluster", f->cluster_file,
                                  "Cluster JSON file (heterogeneous workers; schema in "
                                  "docs/operations.md)");
  auto* nodes = cmd->add_option("--nodes", f->nodes, "Identical nodes (default 1)")
                    ->check(CLI::Range(1, 1024));
  auto* what_if = cmd->add_option("--what-if", f->what_if,
                                  "Sweep cluster sizes, e.g. 1-8: a table of nodes, tiers and "
                                  "predicted tokens/s");
  // The figures of one node and of the model: excluded by --cluster, which has its own.
  const std::vector<CLI::Option*> figures = {
      cmd->add_option("--dtype", f->dtype,
                      "Preset weights: fp8 (0.844 GB layers), bf16 (1.71 GB) or int4 (0.45 GB, "
                      "group 128)")
          ->check(CLI::IsMember(PackDTypeNames())),
      cmd->add_option("--gpu-mem", f->gpu_mem,
                      "GPU bytes per node for layers, staging slots, ends and KV cache "
                      "(default 14.4G: 90% of 16 GiB)"),
      cmd->add_option("--pinned-mem", f->pinned_mem, "Pinned host bytes per node (default 48G)"),
      cmd->add_option("--ssd-gbps", f->ssd_gbps, "SSD read GB/s (default 4.45)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--h2d-gbps", f->h2d_gbps, "Pinned to GPU copy GB/s (default 41.53)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--prefill-ms", f->prefill_ms,
                      "Prefill compute per layer for --prefill-tokens tokens (default 172.92)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--prefill-tokens", f->prefill_tokens,
                      "Tokens --prefill-ms was measured for (default 2048)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--decode-ms", f->decode_ms,
                      "Decode compute per layer for one step of --decode-batch (default 2.45 "
                      "fp8)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--layers", f->layers, "Decoder layers (default 80)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--layer-bytes", f->layer_bytes, "Bytes of one layer, e.g. 844000000"),
      cmd->add_option("--first-end-bytes", f->first_end_bytes,
                      "Embedding bytes on the first node's GPU (default 128256 x 8192 bf16)"),
      cmd->add_option("--last-end-bytes", f->last_end_bytes,
                      "LM head and final norm bytes on the last node's GPU"),
      cmd->add_option("--chunk-tokens", f->chunk_tokens, "Tokens per prefill pass (default 2048)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--decode-batch", f->decode_batch,
                      "Sequences per decode step (default 1)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--kv-tokens", f->kv_tokens,
                      "KV-cache positions to reserve in GPU memory on every layer (default 0)")
          ->check(CLI::NonNegativeNumber),
      cmd->add_option("--link-gbps", f->link_gbps,
                      "Network GB/s between nodes (default: activation hops not modelled)")
          ->check(CLI::PositiveNumber),
      cmd->add_option("--link-latency-ms", f->link_latency_ms, "Network latency per hop, ms")
          ->check(CLI::NonNegativeNumber)};
  for (CLI::Option* figure : figures) cluster->excludes(figure);
  cluster->excludes(nodes);
  what_if->excludes(cluster);
  what_if->excludes(nodes);
  cmd->add_option("--objective", f->objective,
                  "Phase whose pace the split balances: decode (default) or prefill")
      ->check(CLI::IsMember({"decode", "prefill"}));
  cmd->add_option("--prefetch-ssd", f->prefetch_ssd,
                  "SSD reads run this many layers' bytes ahead (the staging ring; default: "
                  "what keeps the disk busy)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--prefetch-h2d", f->prefetch_h2d,
                  "Copies run this many layers ahead (GPU slots - 1; default: 0 or 1, "
                  "whichever predicts faster)")
      ->check(CLI::Range(0, 1024));
  auto* force = cmd->add_option("--force-tier", f->force_tier,
                                "Put every layer in this tier: gpu, pinned or ssd")
                    ->check(CLI::IsMember({"gpu", "pinned", "ssd"}));
  cmd->add_flag("--all-ssd", f->all_ssd, "Stream every layer from SSD (the seed analysis)")
      ->excludes(force);
  cmd->add_flag("--json", f->json, "Print the plan as JSON");
  cmd->callback([f, cmd, &run] {
    run = [f, cmd]() { return RunPlan(*f, *cmd); };
  });
}

}  // namespace strata::cli
