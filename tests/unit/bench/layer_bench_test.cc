// RunLayerBench on the CPU backend over a small synthetic pack: every stage, ceiling and
// pipelined figure is measured (positive, finite, consistent with each other), the overlap
// analysis is the one of the stage means, option errors are clear; and `strata bench` runs
// from the command line with text and --json output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/backend/cpu/cpu_backend.h"
#include "common/bench/bench_report.h"
#include "common/bench/layer_bench.h"
#include "common/bench/synthetic_model.h"
#include "common/engine/pack_placement.h"
#include "tests/support/run_process.h"
#include "tests/support/temp_dir.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::RunProcess;
using testing::TempDir;

// The backend the placement callback measures on (the CPU backend of each test).
CpuBackend* backend_for_place = nullptr;

LayerBenchOptions SmallOptions() {
  LayerBenchOptions o;
  o.prefill_tokens = 32;
  o.decode_kv = 16;
  o.iters = 2;
  o.compute_layers = 2;
  o.pipeline_passes = 2;
  o.pipeline_tiers = {1, 1, -1, -1};
  o.place = [](const std::string& dir, int32_t layers, const BenchTiers& t,
               const ServingLimits& engine) -> StatusOr<PackModelOptions> {
    PackPlacementRequest r;
    r.num_layers = layers;
    r.overrides = {t.gpu_layers, t.pinned_layers, t.prefetch_ssd, t.prefetch_h2d, std::nullopt};
    r.engine = engine;
    STRATA_ASSIGN_OR_RETURN(PackPlacement p, PlacePack(*backend_for_place, dir, r));
    return p.options;
  };
  return o;
}

void ExpectMeasured(const StageResult& s, const char* what) {
  EXPECT_GT(s.ms.mean, 0) << what;
  EXPECT_LE(s.ms.min, s.ms.mean) << what;
  EXPECT_GE(s.ms.max, s.ms.mean) << what;
  EXPECT_TRUE(std::isfinite(s.of_ceiling) && s.of_ceiling > 0) << what;
}

TEST(LayerBench, TheVerifyPassCurveTimesEachSizeAndRefusesSizesBeyondATree) {
  TempDir dir("verifycurve");
  const ModelConfig config = *SyntheticConfig("tiny", 2);
  ASSERT_TRUE(WriteSyntheticPack(config, "tiny", PackDType::kBF16, dir.File("pack"), 3).ok());
  CpuBackend backend;
  backend_for_place = &backend;
  LayerBenchOptions o = SmallOptions();
  o.verify_tokens = {1, 8, 48};
  StatusOr<LayerBenchReport> r = RunLayerBench(backend, dir.File("pack"), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->verify_curve.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r->verify_curve[i].tokens, o.verify_tokens[i]);
    EXPECT_EQ(r->verify_curve[i].pass_ms.n, o.pipeline_passes);
    EXPECT_GT(r->verify_curve[i].pass_ms.mean, 0);
  }
  EXPECT_THAT(LayerBenchText(*r), HasSubstr("Verify-pass curve"));
  EXPECT_EQ(LayerBenchJson(*r)["verify_curve"].size(), 3u);
  o.verify_tokens = {kMaxTreeRows + 2};
  EXPECT_THAT(RunLayerBench(backend, dir.File("pack"), o).status().message(),
              HasSubstr("--verify-tokens"));
}

TEST(LayerBench, MeasuresEveryStageCeilingAndThePipelinedRun) {
  TempDir dir("layerbench");
  const ModelConfig config = *SyntheticConfig("tiny", 4);
  ASSERT_TRUE(WriteSyntheticPack(config, "tiny", PackDType::kBF16, dir.File("pack"), 3).ok());
  CpuBackend backend;
  backend_for_place = &backend;
  const LayerBenchOptions o = SmallOptions();
  StatusOr<LayerBenchReport> r = RunLayerBench(backend, dir.File("pack"), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();

  EXPECT_EQ(r->layers, 4);
  EXPECT_EQ(r->backend, "cpu");
  EXPECT_FALSE(r->read_path.empty());
  // Compute samples: iters passes over compute_layers layers; transfers: iters reads.
  EXPECT_EQ(r->prefill.ms.n, o.iters * o.compute_layers);
  EXPECT_EQ(r->decode.ms.n, o.iters * o.compute_layers);
  EXPECT_EQ(r->ssd.ms.n, o.iters);
  EXPECT_EQ(r->h2d.ms.n, o.iters);
  for (const auto& [s, what] : {std::pair{&r->prefill, "1a"}, {&r->decode, "1b"},
                                {&r->h2d, "2"}, {&r->ssd, "3"}}) {
    ExpectMeasured(*s, what);
  }
  EXPECT_GT(r->prefill.tflops, 0);
  EXPECT_NEAR(r->ssd.gbps, r->ssd.bytes / (r->ssd.ms.mean * 1e-3) / 1e9, 1e-9);
  EXPECT_NEAR(r->ssd.of_ceiling, r->ssd.gbps / r->ceilings.raw_read_gbps, 1e-12);
  EXPECT_GT(r->ceilings.raw_read_1t_gbps, 0);
  EXPECT_GT(r->ceilings.raw_read_4t_gbps, 0);
  EXPECT_GT(r->ceilings.pinned_copy_gbps, 0);
  EXPECT_GT(r->ceilings.memory_read_gbps, 0);
  EXPECT_GT(r->ceilings.gemm_tflops, 0);
  EXPECT_FALSE(r->ceilings.gemm_shape.empty());

  const OverlapAnalysis& a = r->prefill_overlap;
  EXPECT_DOUBLE_EQ(a.compute_ms, r->prefill.ms.mean);
  EXPECT_DOUBLE_EQ(a.ssd_ms, r->ssd.ms.mean);
  EXPECT_DOUBLE_EQ(r->decode_overlap.compute_ms, r->decode.ms.mean);

  ASSERT_TRUE(r->has_pipeline);
  EXPECT_EQ(r->pipeline_gpu, 1);
  EXPECT_EQ(r->pipeline_pinned, 1);
  EXPECT_EQ(r->pipeline_ssd, 2);
  for (const PipelineResult* p : {&r->pipeline_prefill, &r->pipeline_decode}) {
    EXPECT_EQ(p->passes, o.pipeline_passes);
    EXPECT_GT(p->achieved_ms_per_layer, 0);
    EXPECT_NEAR(p->achieved_ms_per_layer, p->pass_ms.mean / 4, 1e-9);
    EXPECT_GT(p->predicted_ms_per_layer, 0);
    EXPECT_GT(p->ssd_ms, 0);
    EXPECT_GT(p->overlap, 0);
  }

  const std::string text = LayerBenchText(*r);
  EXPECT_THAT(text, HasSubstr("1a prefill compute, 1 layer, 32 tokens"));
  EXPECT_THAT(text, HasSubstr("3 SSD → pinned memory"));
  EXPECT_THAT(text, HasSubstr("Prefetch distance"));
  EXPECT_THAT(text, HasSubstr("Pipelined run: 4 layers (1 GPU, 1 pinned, 2 SSD)"));
  const nlohmann::json j = LayerBenchJson(*r);
  EXPECT_EQ(j["stages"]["ssd_to_pinned"]["ms"]["n"], o.iters);
  EXPECT_EQ(j["pipeline"]["ssd_layers"], 2);
}

TEST(LayerBench, RejectsOptionsThatDoNotFitThePack) {
  TempDir dir("layerbench_bad");
  ASSERT_TRUE(WriteSyntheticPack(*SyntheticConfig("tiny", 2), "tiny", PackDType::kBF16,
                                 dir.File("pack"), 3).ok());
  CpuBackend backend;
  backend_for_place = &backend;
  LayerBenchOptions o = SmallOptions();
  o.layers = 3;
  StatusOr<LayerBenchReport> r = RunLayerBench(backend, dir.File("pack"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("more than the 2 layers"));
  o.layers = -1;
  o.pipeline_tiers = {2, 1, -1, -1};
  r = RunLayerBench(backend, dir.File("pack"), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("is more than the 2 layers"));
  o = SmallOptions();
  o.iters = 0;
  EXPECT_EQ(RunLayerBench(backend, dir.File("pack"), o).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RunLayerBench(backend, dir.File("nothing"), SmallOptions()).status().code(),
            StatusCode::kNotFound);
}

TEST(BenchCli, SyntheticTinyRunsAndPrintsJsonThenReusesAKeptPack) {
  TempDir dir("benchcli");
  const std::vector<std::string> args = {STRATA_CLI_PATH, "bench", "--synthetic", "tiny",
                                         "--layers", "3", "--backend", "cpu",
                                         "--prefill-tokens", "32", "--decode-kv", "8",
                                         "--iters", "2", "--passes", "1",
                                         "--dir", dir.File("pack"), "--json"};
  testing::ProcessResult first = RunProcess(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const nlohmann::json j = nlohmann::json::parse(first.out);
  EXPECT_EQ(j["layers"], 3);
  EXPECT_EQ(j["source"], "synthetic:tiny");
  EXPECT_EQ(j["backend"], "cpu");
  EXPECT_GT(j["stages"]["prefill_compute"]["ms"]["mean"].get<double>(), 0);
  EXPECT_GT(j["ceilings"]["raw_read_gbps"].get<double>(), 0);
  EXPECT_EQ(j["pipeline"]["ssd_layers"], 3);

  testing::ProcessResult second = RunProcess(args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.err, HasSubstr("reusing the synthetic pack"));
}

// An int4 synthetic pack benches end to end on the CPU; its layers are about a quarter of
// bf16's (codes plus group scales and zeros), and the GEMM ceiling is bf16's (the prefill
// dequantises to bf16).
TEST(BenchCli, SyntheticInt4LayersAreAQuarterOfBf16sAndProbeTheBf16Gemm) {
  TempDir dir("benchcli_int4");
  auto bench = [&](const std::string& dtype) {
    testing::ProcessResult r = RunProcess(
        {STRATA_CLI_PATH, "bench", "--synthetic", "tiny", "--layers", "2", "--backend", "cpu",
         "--prefill-tokens", "16", "--decode-kv", "8", "--iters", "1", "--passes", "1",
         "--dtype", dtype, "--dir", dir.File(dtype), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  };
  const nlohmann::json int4 = bench("int4"), bf16 = bench("bf16");
  ASSERT_FALSE(int4.empty());
  ASSERT_FALSE(bf16.empty());
  EXPECT_EQ(int4["dtype"], "int4");
  EXPECT_EQ(int4["ceilings"]["gemm_weights"], "bf16");
  EXPECT_EQ(int4["pipeline"]["ssd_layers"], 2);
  const double ratio =
      int4["layer_bytes"].get<double>() / bf16["layer_bytes"].get<double>();
  EXPECT_GT(ratio, 0.25);  // 4 of 16 bits, plus 2 x 16 bits per group of 128 ...
  EXPECT_LT(ratio, 0.30);  // ... and the bf16 norms
}

TEST(BenchCli, TextReportAndClearUsageErrors) {
  TempDir dir("benchcli_text");
  testing::ProcessResult text = RunProcess(
      {STRATA_CLI_PATH, "bench", "--synthetic", "tiny", "--layers", "2", "--backend", "cpu",
       "--prefill-tokens", "16", "--decode-kv", "8", "--iters", "1", "--passes", "0"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("1b decode compute, 1 layer, 1 token, KV 8"));
  EXPECT_THAT(text.out, HasSubstr("Ceilings measured in this run"));
  EXPECT_THAT(text.out, ::testing::Not(HasSubstr("Pipelined run")));

  testing::ProcessResult both = RunProcess({STRATA_CLI_PATH, "bench", "--synthetic", "tiny",
                                            "--model", dir.path()});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_THAT(both.err, HasSubstr("exactly one of --model PACK_DIR or --synthetic"));
  testing::ProcessResult unknown = RunProcess({STRATA_CLI_PATH, "bench", "--synthetic", "gpt-2"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("choose one of llama-3.1-70b, llama-3.1-8b, tiny"));
  testing::ProcessResult no_pack = RunProcess({STRATA_CLI_PATH, "bench", "--model", dir.path()});
  EXPECT_EQ(no_pack.exit_code, 1);
  EXPECT_THAT(no_pack.err, HasSubstr("manifest.json"));
}

}  // namespace
}  // namespace strata
