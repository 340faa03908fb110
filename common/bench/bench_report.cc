// LayerBenchText and LayerBenchJson (see bench_report.h).
#include "common/bench/bench_report.h"

#include <cstdarg>
#include <cstdio>

namespace strata {
namespace {

// printf-style formatting into a std::string.
[[gnu::format(printf, 1, 2)]] std::string Format(const char* format, ...) {
  va_list args;
  va_start(args, format);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

std::string Row(const char* what, const StageResult& s, const std::string& rate,
                const std::string& ceiling) {
  return Format("| %-46s | %9.3f | %9.3f | %9.3f | %7.3f | %-16s | %s |\n", what, s.ms.mean,
                s.ms.min, s.ms.max, s.ms.std, rate.c_str(), ceiling.c_str());
}

std::string OverlapText(const char* mode, const OverlapAnalysis& a) {
  std::string s = Format(
      "%s: serial total %.2f ms (compute %.1f %%, pinned→GPU %.1f %%, SSD→pinned %.1f %%).\n",
      mode, a.serial_ms, 100 * a.compute_share, 100 * a.h2d_share, 100 * a.ssd_share);
  s += a.h2d_exposed_ms == 0
           ? Format("  Compute hides the pinned→GPU copy (saves %.2f ms)", a.h2d_ms)
           : Format("  Compute does not hide the pinned→GPU copy (waits %.2f ms)", a.h2d_exposed_ms);
  s += a.ssd_exposed_ms == 0
           ? Format("; it hides the SSD read (saves %.2f ms).\n", a.ssd_ms)
           : Format("; it does not hide the SSD read (%.2f ms left over).\n", a.ssd_exposed_ms);
  s += Format("  Ideal pipeline = %.2f ms per layer (%s-bound) → %.2f× speed-up. Prefetch "
              "distance: SSD→pinned %lld layer(s) ahead, pinned→GPU %lld.\n",
              a.ideal_ms, a.bottleneck, a.speedup, static_cast<long long>(a.prefetch_ssd),
              static_cast<long long>(a.prefetch_h2d));
  return s;
}

std::string PipelineRow(const char* mode, const PipelineResult& p) {
  return Format("| %-7s | %10.2f | %10.3f | %10.3f | %6.3f× | %5.1f %% | %8.3f | %8.3f | %8.3f |\n",
                mode, p.pass_ms.mean, p.achieved_ms_per_layer, p.predicted_ms_per_layer, p.ratio,
                100 * p.overlap, p.ssd_ms, p.h2d_ms, p.compute_ms);
}

nlohmann::json StatsJson(const SampleStats& s) {
  return {{"n", s.n}, {"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"std", s.std}};
}

nlohmann::json StageJson(const StageResult& s) {
  return {{"ms", StatsJson(s.ms)}, {"bytes", s.bytes},  {"gbps", s.gbps},
          {"tflops", s.tflops},    {"of_ceiling", s.of_ceiling}};
}

nlohmann::json OverlapJson(const OverlapAnalysis& a) {
  return {{"compute_ms", a.compute_ms},       {"h2d_ms", a.h2d_ms},
          {"ssd_ms", a.ssd_ms},               {"serial_ms", a.serial_ms},
          {"compute_share", a.compute_share}, {"h2d_share", a.h2d_share},
          {"ssd_share", a.ssd_share},         {"h2d_exposed_ms", a.h2d_exposed_ms},
          {"ssd_exposed_ms", a.ssd_exposed_ms}, {"ideal_ms", a.ideal_ms},
          {"speedup", a.speedup},             {"prefetch_ssd", a.prefetch_ssd},
          {"prefetch_h2d", a.prefetch_h2d},   {"bottleneck", a.bottleneck}};
}

nlohmann::json PipelineJson(const PipelineResult& p) {
  return {{"passes", p.passes},
          {"pass_ms", StatsJson(p.pass_ms)},
          {"achieved_ms_per_layer", p.achieved_ms_per_layer},
          {"predicted_ms_per_layer", p.predicted_ms_per_layer},
          {"ratio", p.ratio},
          {"overlap", p.overlap},
          {"streamed_layer_ms", {{"ssd", p.ssd_ms}, {"h2d", p.h2d_ms}, {"compute", p.compute_ms}}}};
}

}  // namespace

std::string LayerBenchText(const LayerBenchReport& r) {
  const LayerBenchOptions& o = r.options;
  const Ceilings& c = r.ceilings;
  std::string s = Format("strata bench: %s (%s), %s, %s\n", r.pack_dir.c_str(), r.source.c_str(),
                         r.dtype.c_str(), r.model.c_str());
  s += Format("backend %s; %d layers of %.3f GB; reads via %s\n\n", r.backend.c_str(), r.layers,
              r.layer_bytes / 1e9, r.read_path.c_str());
  s += "| what | mean ms | min | max | std | rate | vs ceiling (same run) |\n";
  s += "| --- | --- | --- | --- | --- | --- | --- |\n";
  const std::string what_1a = Format("1a prefill compute, 1 layer, %d tokens", o.prefill_tokens);
  s += Row(what_1a.c_str(), r.prefill, Format("%.1f TFLOP/s", r.prefill.tflops),
           Format("%.1f %% of GEMM peak", 100 * r.prefill.of_ceiling));
  const std::string what_1b = Format("1b decode compute, 1 layer, 1 token, KV %d", o.decode_kv);
  const double floor_ms = r.layer_bytes / (c.memory_read_gbps * 1e9) * 1e3;
  s += Row(what_1b.c_str(), r.decode, Format("%.1f GB/s", r.decode.gbps),
           Format("%.2f× the memory floor (%.3f ms)", 1 / r.decode.of_ceiling, floor_ms));
  s += Row("2 pinned memory → GPU", r.h2d, Format("%.2f GB/s", r.h2d.gbps),
           Format("%.1f %% of pinned copy peak", 100 * r.h2d.of_ceiling));
  s += Row("3 SSD → pinned memory", r.ssd, Format("%.2f GB/s", r.ssd.gbps),
           Format("%.1f %% of raw read", 100 * r.ssd.of_ceiling));
  s += Format("\nCeilings measured in this run:\n"
              "  raw %s read of the layers' bytes, 4 MiB preads: 1 thread %.2f GB/s, 4 threads "
              "%.2f GB/s\n",
              c.raw_read_direct ? "O_DIRECT" : "buffered (no O_DIRECT here)", c.raw_read_1t_gbps,
              c.raw_read_4t_gbps);
  s += Format("  pinned → device copy peak (best of 256 MiB and one layer): %.2f GB/s\n",
              c.pinned_copy_gbps);
  s += Format("  memory read bandwidth: %.1f GB/s\n", c.memory_read_gbps);
  s += Format("  GEMM peak (%s weights, best at %s): %.1f TFLOP/s\n", c.gemm_weights.c_str(),
              c.gemm_shape.c_str(), c.gemm_tflops);
  s += "\nOverlap analysis (stage means above):\n";
  s += OverlapText("Prefill", r.prefill_overlap);
  s += OverlapText("Decode", r.decode_overlap);
  if (r.has_pipeline) {
    s += Format("\nPipelined run: %d layers (%d GPU, %d pinned, %d SSD), %d GPU slots, a ring of "
                "%d chunks, streamed layers %s; %d timed passes per mode after one warm-up\n",
                r.layers, r.pipeline_gpu, r.pipeline_pinned, r.pipeline_ssd,
                r.pipeline_gpu_slots, r.pipeline_staging_chunks,
                r.pipeline_verified ? "verified" : "not verified", o.pipeline_passes);
    s += "| mode | pass ms | achieved ms/layer | predicted ms/layer | ratio | overlap | ssd ms | "
         "h2d ms | compute ms |\n";
    s += "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
    s += PipelineRow("prefill", r.pipeline_prefill);
    s += PipelineRow("decode", r.pipeline_decode);
    s += "(pass: host wall time of a whole forward; predicted: per layer, the slowest standalone "
         "stage its tier needs; overlap: Σ per-layer slowest stage inside the pass / pass wall; "
         "stage columns: means over streamed layers inside the passes)\n";
  }
  if (!r.verify_curve.empty()) {
    const double one = r.verify_curve.front().pass_ms.mean;
    s += Format("\nVerify-pass curve (the pipelined run's model, one sequence after %d positions, "
                "a row of logits per token):\n| tokens | pass ms (mean / min / max) | x the "
                "first |\n| --- | --- | --- |\n",
                o.decode_kv);
    for (const VerifyPoint& v : r.verify_curve) {
      s += Format("| %d | %.3f / %.3f / %.3f | %.2f |\n", v.tokens, v.pass_ms.mean, v.pass_ms.min,
                  v.pass_ms.max, v.pass_ms.mean / one);
    }
  }
  return s;
}

nlohmann::json LayerBenchJson(const LayerBenchReport& r) {
  const LayerBenchOptions& o = r.options;
  const Ceilings& c = r.ceilings;
  nlohmann::json j = {
      {"pack", r.pack_dir},
      {"source", r.source},
      {"dtype", r.dtype},
      {"model", r.model},
      {"backend", r.backend},
      {"read_path", r.read_path},
      {"layers", r.layers},
      {"layer_bytes", r.layer_bytes},
      {"options",
       {{"prefill_tokens", o.prefill_tokens},
        {"decode_kv", o.decode_kv},
        {"iters", o.iters},
        {"compute_layers", o.compute_layers},
        {"pipeline_passes", o.pipeline_passes}}},
      {"stages",
       {{"prefill_compute", StageJson(r.prefill)},
        {"decode_compute", StageJson(r.decode)},
        {"pinned_to_gpu", StageJson(r.h2d)},
        {"ssd_to_pinned", StageJson(r.ssd)}}},
      {"ceilings",
       {{"raw_read_gbps", c.raw_read_gbps},
        {"raw_read_1_thread_gbps", c.raw_read_1t_gbps},
        {"raw_read_4_threads_gbps", c.raw_read_4t_gbps},
        {"raw_read_direct", c.raw_read_direct},
        {"pinned_copy_gbps", c.pinned_copy_gbps},
        {"memory_read_gbps", c.memory_read_gbps},
        {"gemm_tflops", c.gemm_tflops},
        {"gemm_shape", c.gemm_shape},
        {"gemm_weights", c.gemm_weights}}},
      {"overlap", {{"prefill", OverlapJson(r.prefill_overlap)}, {"decode", OverlapJson(r.decode_overlap)}}},
  };
  if (r.has_pipeline) {
    j["pipeline"] = {{"gpu_layers", r.pipeline_gpu},
                     {"pinned_layers", r.pipeline_pinned},
                     {"ssd_layers", r.pipeline_ssd},
                     {"gpu_slots", r.pipeline_gpu_slots},
                     {"staging_chunks", r.pipeline_staging_chunks},
                     {"verified", r.pipeline_verified},
                     {"prefill", PipelineJson(r.pipeline_prefill)},
                     {"decode", PipelineJson(r.pipeline_decode)}};
  }
  for (const VerifyPoint& v : r.verify_curve) {
    j["verify_curve"].push_back({{"tokens", v.tokens},
                                 {"pass_ms_mean", v.pass_ms.mean},
                                 {"pass_ms_min", v.pass_ms.min},
                                 {"pass_ms_max", v.pass_ms.max}});
  }
  return j;
}

}  // namespace strata
