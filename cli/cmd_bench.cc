// `strata bench`: the per-layer report of common/bench/layer_bench.h for this machine, on a
// pack (--model) or on synthetic layers of a named model written to the disk first
// (--synthetic PRESET --layers N --dtype D [--dir PATH]). Text tables, or --json.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "common/backend/backend_factory.h"
#include "common/bench/bench_report.h"
#include "common/bench/layer_bench.h"
#include "common/bench/synthetic_model.h"
#include "common/engine/pack_placement.h"
#include "common/storage/pack_format.h"
#include "common/storage/durable_file.h"
#include "common/util/temp_root.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

struct BenchFlags {
  std::string model;
  std::string synthetic;
  std::string dtype = "bf16";
  std::string dir;
  int32_t layers = -1;
  bool keep = false;
  std::string backend = "auto";
  bool fp8_activations = false;
  bool json = false;
  std::string json_file;
  int32_t queue_depth = ReaderOptions{}.queue_depth;
  int64_t block_kib = static_cast<int64_t>(ReaderOptions{}.block_bytes >> 10);
  LayerBenchOptions bench;
  bool verify_streamed = kVerifyStreamedByDefault;
};

// "auto": CUDA where a GPU answers, else the CPU.
StatusOr<std::unique_ptr<Backend>> OpenBackend(const std::string& spec,
                                               const BackendOptions& options) {
  if (spec != "auto") return CreateBackend(spec, options);
  StatusOr<std::unique_ptr<Backend>> cuda = CreateBackend("cuda", options);
  if (cuda.ok()) return cuda;
  spdlog::info("no CUDA device ({}); benchmarking the CPU backend", cuda.status().message());
  return CreateBackend("cpu", options);  // refuses options only CUDA has
}

// Removes the synthetic pack the run made in a temporary directory.
class TempPackGuard {
 public:
  explicit TempPackGuard(std::string dir) : dir_(std::move(dir)) {}
  TempPackGuard(const TempPackGuard&) = delete;
  TempPackGuard& operator=(const TempPackGuard&) = delete;
  ~TempPackGuard() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

 private:
  std::string dir_;
};

// Writes (or reuses) the synthetic pack; returns its directory.
StatusOr<std::string> PrepareSynthetic(const BenchFlags& f, std::string* temp_dir) {
  const int32_t layers = f.layers > 0 ? f.layers : (f.synthetic == "tiny" ? 4 : 8);
  std::optional<ModelConfig> config = SyntheticConfig(f.synthetic, layers);
  if (!config) {
    std::string names;
    for (std::string_view n : LlamaPresetNames()) names += (names.empty() ? "" : ", ") + std::string(n);
    return InvalidArgument("unknown --synthetic model '" + f.synthetic + "'; choose one of " + names);
  }
  const PackDType dtype = *ParsePackDType(f.dtype);
  std::string dir = f.dir;
  if (dir.empty()) {
    dir = (fs::path(TempRoot()) /
           ("strata-bench-" + f.synthetic + "-" + f.dtype + "-" + std::to_string(::getpid())))
              .string();
    if (!f.keep) *temp_dir = dir;
  }
  if (IsSyntheticPack(dir, f.synthetic, *config, dtype)) {
    spdlog::info("reusing the synthetic pack in {}", dir);
    return dir;
  }
  const auto start = std::chrono::steady_clock::now();
  STRATA_ASSIGN_OR_RETURN(PackResult written, WriteSyntheticPack(*config, f.synthetic, dtype, dir, 1));
  spdlog::info("wrote {} synthetic {} layers ({:.2f} GB) to {} in {:.1f} s", layers, f.synthetic,
               static_cast<double>(written.data_bytes) / 1e9, written.dir,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return written.dir;
}

Status RunBench(const BenchFlags& f) {
  if (f.model.empty() == f.synthetic.empty()) {
    return InvalidArgument("strata bench needs exactly one of --model PACK_DIR or --synthetic MODEL");
  }
  if (!f.model.empty() && (!f.dir.empty() || f.keep)) {
    return InvalidArgument("--dir and --keep apply to --synthetic only");
  }
  std::string temp_dir;
  std::string pack_dir = f.model;
  LayerBenchOptions options = f.bench;
  if (!f.synthetic.empty()) {
    STRATA_ASSIGN_OR_RETURN(pack_dir, PrepareSynthetic(f, &temp_dir));
  } else {
    options.layers = f.layers;
  }
  TempPackGuard guard(temp_dir);
  options.reader.queue_depth = f.queue_depth;
  options.reader.block_bytes = static_cast<size_t>(f.block_kib) * 1024;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend,
                          OpenBackend(f.backend, BackendOptions{f.fp8_activations}));
  Backend& b = *backend;
  const bool verify_streamed = f.verify_streamed;
  options.place = [&b, &options, verify_streamed](const std::string& dir, int32_t layers, const BenchTiers& t,
                                 const ServingLimits& engine) -> StatusOr<PackModelOptions> {
    PackPlacementRequest r;
    r.num_layers = layers;
    r.overrides = {t.gpu_layers, t.pinned_layers, t.prefetch_ssd, t.prefetch_h2d, std::nullopt};
    r.engine = engine;
    r.reader = options.reader;
    r.verify_streamed = verify_streamed;
    STRATA_ASSIGN_OR_RETURN(PackPlacement p, PlacePack(b, dir, r));
    return p.options;
  };
  STRATA_ASSIGN_OR_RETURN(LayerBenchReport report, RunLayerBench(*backend, pack_dir, options));
  const std::string json = LayerBenchJson(report).dump(2) + "\n";
  if (!f.json_file.empty()) STRATA_RETURN_IF_ERROR(WriteFileDurably(f.json_file, json));
  std::printf("%s", f.json ? json.c_str() : LayerBenchText(report).c_str());
  return OkStatus();
}

}  // namespace

void AddBenchCommand(CLI::App& app, CommandRunner& run) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure one layer's compute, copy and SSD stages against this machine's ceilings");
  cmd->add_option("--model", f->model, "A Strata pack to benchmark");
  cmd->add_option("--synthetic", f->synthetic,
                  "Write random layers of this model first: llama-3.1-70b, llama-3.1-8b, tiny");
  cmd->add_option("--layers", f->layers,
                  "Synthetic: layers to write (default 8; tiny 4). Pack: use the first N layers")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", f->dtype,
                  "Synthetic weight dtype: bf16, fp8 or int4 (group 128, round to nearest)")
      ->check(CLI::IsMember(PackDTypeNames()));
  cmd->add_option("--dir", f->dir,
                  "Synthetic: where to write the pack (kept, and reused by later runs); default "
                  "a temporary directory under $TMPDIR or /var/tmp, removed afterwards");
  cmd->add_flag("--keep", f->keep, "Synthetic: keep the pack written to the default directory");
  cmd->add_option("--backend", f->backend, "auto (CUDA if a GPU answers, else CPU), cpu, cuda, cuda:N");
  cmd->add_flag("--fp8-activations", f->fp8_activations,
                "CUDA, fp8 packs: prefill GEMMs in fp8 (W8A8) instead of W8A16");
  cmd->add_option("--prefill-tokens", f->bench.prefill_tokens, "1a: tokens per prefill chunk")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--decode-kv", f->bench.decode_kv, "1b: KV-cache positions before the token")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--iters", f->bench.iters, "Timed repetitions per stage (after a warm-up)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--compute-layers", f->bench.compute_layers,
                  "GPU-resident layers the compute stages run through")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--passes", f->bench.pipeline_passes,
                  "Timed passes per mode of the pipelined run; 0 skips it")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--verify-tokens", f->bench.verify_tokens,
                  "Pipelined run: the verify-pass curve, a pass over each of these token "
                  "counts (e.g. 1,2,4,...,256: what a speculative tree of that size costs)")
      ->delimiter(',');
  cmd->add_option("--gpu-layers", f->bench.pipeline_tiers.gpu_layers, "Pipelined run: layers resident on the GPU")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--pinned-layers", f->bench.pipeline_tiers.pinned_layers,
                  "Pipelined run: layers resident in pinned memory (the rest stream from the SSD)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--prefetch-ssd", f->bench.pipeline_tiers.prefetch_ssd,
                  "Pipelined run: layers' bytes the reads run ahead (the staging ring); -1 chooses")
      ->capture_default_str()->check(CLI::Range(-1, 64));
  cmd->add_option("--prefetch-h2d", f->bench.pipeline_tiers.prefetch_h2d,
                  "Pipelined run: layers the copies run ahead (GPU slots - 1); -1 chooses")
      ->capture_default_str()->check(CLI::Range(-1, 64));
  cmd->add_option("--queue-depth", f->queue_depth, "SSD reader: blocks in flight")
      ->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--block-kib", f->block_kib, "SSD reader: block size in KiB (multiple of 4)")
      ->capture_default_str()->check(CLI::Range(4, 1 << 20));
  cmd->add_flag("--verify-streamed,!--no-verify-streamed", f->verify_streamed,
                "Pipelined run: check each streamed layer against its checksum (default on)");
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->add_option("--json-file", f->json_file, "Also write the JSON report to this file");
  cmd->callback([f, &run] { run = [f] { return RunBench(*f); }; });
}

}  // namespace strata::cli
