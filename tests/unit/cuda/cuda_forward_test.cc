// The whole Llama forward pass on CudaBackend against the CPU backend and the Hugging Face
// reference: last-position logits (bf16 weights, and fp8 weights quantized here, with the
// prefill GEMMs in W8A16 and in W8A8), greedy tokens where the reference's margins are clear
// of the observed error, multi-sequence batches (prefill, batched decode, decode mixed with
// prefill), token trees (a verify pass, a draft's pass over cached tree rows, KeepRows then
// decoding), and the error layer by layer. Two models:
//  * the committed tiny checkpoint: random std-0.25 weights, residual norms ~190, chaotic —
//    a rounding anywhere grows through the layers (even the CPU's own fp8 weights vs bf16
//    keep a logit cosine of only 0.87-0.98). Its tolerances are therefore measured, per
//    prompt: the CPU backend is run again with exactly the activation rounding the CUDA
//    backend applies before its GEMMs (RoundingCpuBackend), and the GPU may differ from the
//    CPU by at most kChaosSlack times what that rounding alone causes. The GPU's other
//    differences (summation order) are perturbations of the same kind and smaller.
//  * a well-conditioned random Llama (tests/support/random_llama.h, N(0, 0.02) weights), in
//    bf16, fp8 and int4, where rounding errors stay proportional and fixed tight tolerances
//    hold.
// Needs a GPU: labelled `gpu`.
#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "common/backend/cuda/cuda_backend.h"
#include "common/backend/cuda/gemv.h"
#include "common/engine/generator.h"
#include "common/engine/llama_model.h"
#include "common/engine/token_tree.h"
#include "common/model/checkpoint.h"
#include "tests/support/random_llama.h"
#include "tests/support/reference_fixture.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

using cuda::CudaBackend;
using cuda::Fp8Prefill;

constexpr double kBf16LogitTol = 2e-2;  // fixture, GPU bf16 vs transformers (fp32)
constexpr double kChaosSlack = 2.0;     // fixture: GPU error / error of its rounding alone
constexpr double kChaosFloor = 5e-3;    // fixture: below this, no slack is needed
constexpr double kWellTol = 6e-3;       // well-conditioned model, GPU vs CPU (bf16, W8A16)

// The CPU reference with the CUDA backend's activation rounding in front of each MatMul:
// x rounded to bf16 for bf16 and fp8 weights (the GEMV; the bf16 and W8A16 GEMMs), or to
// e4m3 with a per-row scale (max|row| / 448) for fp8 weights in GEMMs of more than
// kGemvMaxRows rows when the CUDA backend runs them W8A8. Everything else is the CPU's.
class RoundingCpuBackend final : public CpuBackend {
 public:
  explicit RoundingCpuBackend(Fp8Prefill mode) : mode_(mode) {}

  void MatMul(Tensor x, const WeightView& w, Tensor out) override {
    if (w.dtype != DType::kBF16 && w.dtype != DType::kF8E4M3) {
      CpuBackend::MatMul(x, w, out);
      return;
    }
    const bool e4m3 = w.dtype == DType::kF8E4M3 && mode_ == Fp8Prefill::kFp8Activations &&
                      x.rows > cuda::kGemvMaxRows;
    rounded_.assign(x.f32(), x.f32() + x.numel());  // (rows, cols)
    for (int64_t r = 0; r < x.rows; ++r) {
      float* row = rounded_.data() + r * x.cols;
      float amax = 0.0f;
      for (int64_t c = 0; c < x.cols; ++c) amax = std::max(amax, std::fabs(row[c]));
      const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
      for (int64_t c = 0; c < x.cols; ++c) {
        row[c] = e4m3 ? F8E4M3ToFloat(FloatToF8E4M3(row[c] / scale)) * scale
                      : BF16ToFloat(FloatToBF16(row[c]));
      }
    }
    CpuBackend::MatMul(F32Tensor(rounded_.data(), x.rows, x.cols), w, out);
  }

 private:
  Fp8Prefill mode_;
  std::vector<float> rounded_;
};

std::unique_ptr<CudaBackend> MakeGpu(Fp8Prefill mode) {
  StatusOr<std::unique_ptr<CudaBackend>> gpu = CudaBackend::Create(0);
  EXPECT_TRUE(gpu.ok()) << gpu.status().ToString();
  if (!gpu.ok()) return nullptr;
  (*gpu)->set_fp8_prefill(mode);
  return std::move(gpu).value();
}

const char* ModeName(Fp8Prefill mode) {
  return mode == Fp8Prefill::kBf16Activations ? "W8A16" : "W8A8";
}

// A model's weights for the CPU (host views) and the GPU (device copies).
struct ModelWeights {
  std::unique_ptr<Checkpoint> checkpoint;          // the fixture's, when loaded from it
  std::unique_ptr<RandomLlama> random;             // the random model's, when generated
  std::vector<std::vector<std::byte>> fp8_bytes;   // storage of re-encoded matrices
  std::vector<std::vector<float>> fp8_scales;
  std::vector<DeviceBuffer> device_buffers;
  ModelConfig config;
  LlamaWeights host, device;
};

WeightView ToFp8(const WeightView& w, ModelWeights* t) {
  std::vector<float> values(static_cast<size_t>(w.numel()));
  ConvertToFloat(w.data, w.dtype, values.data(), values.size());
  t->fp8_bytes.emplace_back();
  t->fp8_scales.emplace_back();
  QuantizeRowsE4M3(values, w.rows, w.cols, &t->fp8_bytes.back(), &t->fp8_scales.back());
  return WeightView{t->fp8_bytes.back().data(), DType::kF8E4M3, w.rows, w.cols,
                    t->fp8_scales.back().data()};
}

WeightView ToDevice(Backend& gpu, const WeightView& w, ModelWeights* t) {
  WeightView d = w;
  t->device_buffers.push_back(Upload(gpu, w.data, w.nbytes()));
  d.data = t->device_buffers.back().get();
  if (w.scales != nullptr) {
    t->device_buffers.push_back(Upload(gpu, w.scales, static_cast<size_t>(w.rows) * sizeof(float)));
    d.scales = reinterpret_cast<const float*>(t->device_buffers.back().get());
  }
  if (w.dtype == DType::kU4) {  // its groups (rows, cols / group_size) bf16 each
    const size_t bytes = static_cast<size_t>(w.rows * w.groups_per_row()) * sizeof(uint16_t);
    t->device_buffers.push_back(Upload(gpu, w.group_scales, bytes));
    d.group_scales = reinterpret_cast<const uint16_t*>(t->device_buffers.back().get());
    t->device_buffers.push_back(Upload(gpu, w.group_zeros, bytes));
    d.group_zeros = reinterpret_cast<const uint16_t*>(t->device_buffers.back().get());
  }
  return d;
}

// Fills t->device with device copies of t->host.
void UploadWeights(Backend& gpu, ModelWeights* t) {
  t->device = t->host;
  t->device.embed = ToDevice(gpu, t->host.embed, t);
  t->device.final_norm = ToDevice(gpu, t->host.final_norm, t);
  t->device.lm_head = ToDevice(gpu, t->host.lm_head, t);
  for (size_t i = 0; i < t->host.layers.size(); ++i) {
    const LlamaLayerWeights& h = t->host.layers[i];
    LlamaLayerWeights& d = t->device.layers[i];
    for (WeightView LlamaLayerWeights::*f :
         {&LlamaLayerWeights::attn_norm, &LlamaLayerWeights::wq, &LlamaLayerWeights::wk,
          &LlamaLayerWeights::wv, &LlamaLayerWeights::wo, &LlamaLayerWeights::mlp_norm,
          &LlamaLayerWeights::w_gate, &LlamaLayerWeights::w_up, &LlamaLayerWeights::w_down}) {
      d.*f = ToDevice(gpu, h.*f, t);
    }
  }
}

std::unique_ptr<ModelWeights> LoadTinyWeights(Backend& gpu, bool fp8) {
  auto t = std::make_unique<ModelWeights>();
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(TinyModelDir());
  EXPECT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  if (!ckpt.ok()) return nullptr;
  t->checkpoint = std::make_unique<Checkpoint>(std::move(ckpt).value());
  t->config = t->checkpoint->config();
  StatusOr<LlamaWeights> bound = BindLlamaWeights(*t->checkpoint);
  EXPECT_TRUE(bound.ok()) << bound.status().ToString();
  if (!bound.ok()) return nullptr;
  t->host = std::move(bound).value();
  if (fp8) {
    for (LlamaLayerWeights& l : t->host.layers) {
      for (WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        *w = ToFp8(*w, t.get());
      }
    }
    t->host.lm_head = ToFp8(t->host.lm_head, t.get());
  }
  UploadWeights(gpu, t.get());
  return t;
}

std::unique_ptr<ModelWeights> LoadRandomWeights(Backend& gpu, RandomLlamaWeights encoding) {
  auto t = std::make_unique<ModelWeights>();
  t->random = MakeRandomLlama(11, encoding);
  t->config = t->random->config;
  t->host = t->random->weights;
  UploadWeights(gpu, t.get());
  return t;
}

ServingLimits Options() {
  ServingLimits o;
  o.max_batch_tokens = 128;
  o.max_seq_len = 128;
  o.kv_slots = 6;
  return o;
}

std::unique_ptr<LlamaModel> MakeModel(Backend& backend, const ModelWeights& t, bool device) {
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::CreateResident(backend, t.config, device ? t.device : t.host, Options());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : nullptr;
}

// Last-position logits of `prompt` run alone (one prefill) on `model`.
std::vector<float> PromptLogits(LlamaModel& model, const std::vector<int32_t>& prompt) {
  const int32_t slot = *model.kv_cache().Acquire();
  BatchLayout batch;
  batch.Add(slot, 0, prompt.data(), static_cast<int32_t>(prompt.size()));
  std::vector<float> logits;
  EXPECT_TRUE(model.Forward(batch, LogitsMode::kLastToken, &logits).ok());
  model.kv_cache().Release(slot);
  return logits;
}

std::vector<float> Row(const std::vector<float>& logits, size_t row, size_t vocab) {
  return std::vector<float>(logits.begin() + static_cast<std::ptrdiff_t>(row * vocab),
                            logits.begin() + static_cast<std::ptrdiff_t>((row + 1) * vocab));
}

// The fixture's tolerance for one comparison: kChaosSlack times the error that the CUDA
// backend's activation rounding alone causes there (`rounded` vs `want`, both on the CPU).
double ChaosTolerance(const std::vector<float>& rounded, const std::vector<float>& want) {
  const double rounding = Compare(rounded, want).error;
  std::printf("  rounding alone (CPU with the GPU's activation rounding): %.3g\n", rounding);
  return std::max(kChaosFloor, kChaosSlack * rounding);
}

void CompareFixtureLastLogits(bool fp8, Fp8Prefill mode) {
  auto gpu = MakeGpu(mode);
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  RoundingCpuBackend rounding(mode);
  auto weights = LoadTinyWeights(*gpu, fp8);
  ASSERT_NE(weights, nullptr);
  auto cpu_model = MakeModel(cpu, *weights, false);
  auto rounded_model = MakeModel(rounding, *weights, false);
  auto gpu_model = MakeModel(*gpu, *weights, true);
  ASSERT_TRUE(cpu_model && rounded_model && gpu_model);
  const auto& cases = ReferenceCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<float> want = PromptLogits(*cpu_model, cases[i].input_ids);
    const std::vector<float> got = PromptLogits(*gpu_model, cases[i].input_ids);
    const std::string what = std::string(fp8 ? "fp8 " : "bf16 ") + (fp8 ? ModeName(mode) : "") +
                             " case " + std::to_string(i) + " (" +
                             std::to_string(cases[i].input_ids.size()) + " tokens)";
    const double tol = ChaosTolerance(PromptLogits(*rounded_model, cases[i].input_ids), want);
    ExpectClose(got, want, static_cast<int64_t>(want.size()), tol, what + " logits vs CPU");
    if (!fp8) {
      ExpectClose(got, cases[i].logits_last, static_cast<int64_t>(want.size()), kBf16LogitTol,
                  what + " logits vs transformers");
    }
  }
}

TEST(CudaForward, Bf16LastLogitsMatchCpuAndReference) {
  CompareFixtureLastLogits(false, Fp8Prefill::kBf16Activations);
}

TEST(CudaForward, Fp8LastLogitsMatchCpu) {
  CompareFixtureLastLogits(true, Fp8Prefill::kBf16Activations);
}

TEST(CudaForward, Fp8W8A8LastLogitsMatchCpuWithinTheirRounding) {
  CompareFixtureLastLogits(true, Fp8Prefill::kFp8Activations);
}

// The well-conditioned model, for a short and a long prompt and one decode step after the
// long one: bf16, fp8 with W8A16 prefill, and int4 (groups of 128: the GEMV's and the bf16
// dequantisation's weights against the CPU's exact ones) within kWellTol of the CPU (bf16 and
// fp8 measured on the H100: at most 3.6e-3, cosine 0.99999). W8A8 prefill rounds every activation to 3 mantissa
// bits: it is held to kChaosSlack times what that rounding alone does on the CPU, and to the
// issue's logit cosine of 0.99.
TEST(CudaForward, WellConditionedModelMatchesCpuTightly) {
  using Enc = RandomLlamaWeights;
  for (const auto& [encoding, mode] :
       {std::pair{Enc::kBF16, Fp8Prefill::kBf16Activations},
        std::pair{Enc::kFP8, Fp8Prefill::kBf16Activations},
        std::pair{Enc::kFP8, Fp8Prefill::kFp8Activations},
        std::pair{Enc::kInt4, Fp8Prefill::kBf16Activations}}) {
    auto gpu = MakeGpu(mode);
    ASSERT_NE(gpu, nullptr);
    CpuBackend cpu;
    RoundingCpuBackend rounding(mode);
    auto weights = LoadRandomWeights(*gpu, encoding);
    const bool fp8 = encoding == Enc::kFP8;
    const std::string name = encoding == Enc::kInt4 ? std::string("int4 g128")
                             : fp8 ? std::string("fp8 ") + ModeName(mode)
                                   : std::string("bf16 ");
    const bool w8a8 = fp8 && mode == Fp8Prefill::kFp8Activations;
    // Prefills `ids` (a decode step after the first `prefill` of them when prefill > 0) on a
    // fresh model of each backend and checks the GPU's last logits.
    auto check = [&](const std::vector<int32_t>& ids, int32_t prefill, const std::string& what) {
      std::vector<float> logits[3];  // CPU, CPU with the GPU's rounding, GPU
      Backend* backends[3] = {&cpu, &rounding, gpu.get()};
      for (int b = 0; b < 3; ++b) {
        auto model = MakeModel(*backends[b], *weights, b == 2);
        ASSERT_NE(model, nullptr);
        const int32_t slot = *model->kv_cache().Acquire();
        const int32_t first = prefill > 0 ? prefill : static_cast<int32_t>(ids.size());
        BatchLayout batch;
        batch.Add(slot, 0, ids.data(), first);
        ASSERT_TRUE(model->Forward(batch, LogitsMode::kLastToken, &logits[b]).ok());
        if (prefill > 0) {
          BatchLayout step;
          step.Add(slot, first, ids.data() + first, 1);
          ASSERT_TRUE(model->Forward(step, LogitsMode::kLastToken, &logits[b]).ok());
        }
      }
      const double tol = w8a8 ? ChaosTolerance(logits[1], logits[0]) : kWellTol;
      ExpectClose(logits[2], logits[0], static_cast<int64_t>(logits[0].size()), tol,
                  "well-conditioned " + name + ", " + what);
      const double cosine = Cosine(logits[2], logits[0]);
      std::printf("  cosine GPU vs CPU: %.6f\n", cosine);
      EXPECT_GE(cosine, 0.99);
    };
    const auto vocab = static_cast<int32_t>(weights->config.vocab_size);
    check(RandomTokens(5, vocab, 205), 0, "5 tokens");
    check(RandomTokens(100, vocab, 300), 0, "100 tokens");
    check(RandomTokens(101, vocab, 400), 100, "decode after 100 tokens");
  }
}

// Where the fixture's error comes from: the hidden state after each layer, GPU vs CPU and
// CPU-with-the-GPU's-rounding vs CPU, for the longest reference prompt. Layer 0 must agree
// to the rounding's own size; the growth after it is the model's, the same on both sides.
TEST(CudaForward, FixtureErrorLayerByLayer) {
  const ReferenceCase* longest = &ReferenceCases()[0];
  for (const ReferenceCase& c : ReferenceCases()) {
    if (c.input_ids.size() > longest->input_ids.size()) longest = &c;
  }
  for (const auto& [fp8, mode] :
       {std::pair{false, Fp8Prefill::kBf16Activations}, std::pair{true, Fp8Prefill::kBf16Activations},
        std::pair{true, Fp8Prefill::kFp8Activations}}) {
    auto gpu = MakeGpu(mode);
    ASSERT_NE(gpu, nullptr);
    CpuBackend cpu;
    RoundingCpuBackend rounding(mode);
    auto weights = LoadTinyWeights(*gpu, fp8);
    ASSERT_NE(weights, nullptr);
    std::vector<std::vector<float>> hidden[3];  // per model, per layer: (T, hidden)
    Backend* backends[3] = {&cpu, &rounding, gpu.get()};
    for (int b = 0; b < 3; ++b) {
      auto model = MakeModel(*backends[b], *weights, b == 2);
      ASSERT_NE(model, nullptr);
      model->set_layer_observer([&, b](int32_t layer, Tensor x) {
        if (layer < 0) return;
        std::vector<float> host(static_cast<size_t>(x.numel()));
        backends[b]->CopyToHost(host.data(), x.data, host.size() * sizeof(float));
        hidden[b].push_back(std::move(host));
      });
      PromptLogits(*model, longest->input_ids);
    }
    const std::string name = std::string(fp8 ? "fp8 " : "bf16 ") + (fp8 ? ModeName(mode) : "");
    std::printf("%s, %zu tokens: normalized error of the hidden state after each layer\n",
                name.c_str(), longest->input_ids.size());
    for (size_t l = 0; l < hidden[0].size(); ++l) {
      const double gpu_err = Compare(hidden[2][l], hidden[0][l]).error;
      const double rounding_err = Compare(hidden[1][l], hidden[0][l]).error;
      std::printf("  layer %zu: GPU vs CPU %.3g, rounding alone %.3g\n", l, gpu_err,
                  rounding_err);
      if (l == 0) {
        EXPECT_LT(gpu_err, std::max(1e-4, kChaosSlack * rounding_err)) << name;
      }
    }
  }
}

TEST(CudaForward, GreedyTokensMatchReferenceWhereMarginsAreClear) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  auto weights = LoadTinyWeights(*gpu, false);
  ASSERT_NE(weights, nullptr);
  auto cpu_model = MakeModel(cpu, *weights, false);
  auto gpu_model = MakeModel(*gpu, *weights, true);
  ASSERT_TRUE(cpu_model && gpu_model);
  for (const ReferenceCase& c : ReferenceCases()) {
    // Steps are comparable while the reference's top-1 margin is well above the logit error
    // this backend shows on the prompt.
    const Diff d =
        Compare(PromptLogits(*gpu_model, c.input_ids), PromptLogits(*cpu_model, c.input_ids));
    const float threshold = std::max(0.05f, 8.0f * std::fabs(d.got - d.want));
    size_t comparable = 0;
    while (comparable < c.greedy_ids.size() && c.greedy_top1_margins[comparable] >= threshold) {
      ++comparable;
    }
    GenerateOptions options;
    options.max_tokens = static_cast<int32_t>(c.greedy_ids.size());
    StatusOr<GenerateResult> result = Generate(*gpu_model, c.input_ids, options);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    std::printf("prompt of %zu tokens: comparing %zu greedy steps (margin threshold %.3f)\n",
                c.input_ids.size(), comparable, threshold);
    ASSERT_GE(result->output_ids.size(), comparable);
    for (size_t i = 0; i < comparable; ++i) {
      EXPECT_EQ(result->output_ids[i], c.greedy_ids[i])
          << "greedy step " << i << " (reference margin " << c.greedy_top1_margins[i] << ")";
    }
  }
}

TEST(CudaForward, BatchedPrefillDecodeAndMixedBatchesMatchCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  RoundingCpuBackend rounding(Fp8Prefill::kBf16Activations);
  auto weights = LoadTinyWeights(*gpu, false);
  ASSERT_NE(weights, nullptr);
  auto cpu_model = MakeModel(cpu, *weights, false);
  auto rounded_model = MakeModel(rounding, *weights, false);
  auto gpu_model = MakeModel(*gpu, *weights, true);
  ASSERT_TRUE(cpu_model && rounded_model && gpu_model);
  const auto& cases = ReferenceCases();
  const size_t vocab = static_cast<size_t>(weights->config.vocab_size);
  // Runs the same batch on the three models (slots are acquired in the same order on all).
  auto run_all = [&](const BatchLayout& batch, const std::string& what) {
    std::vector<float> want, rounded, got;
    ASSERT_TRUE(cpu_model->Forward(batch, LogitsMode::kLastToken, &want).ok());
    ASSERT_TRUE(rounded_model->Forward(batch, LogitsMode::kLastToken, &rounded).ok());
    ASSERT_TRUE(gpu_model->Forward(batch, LogitsMode::kLastToken, &got).ok());
    for (size_t s = 0; s < batch.seqs.size(); ++s) {
      const double tol = ChaosTolerance(Row(rounded, s, vocab), Row(want, s, vocab));
      ExpectClose(Row(got, s, vocab), Row(want, s, vocab), static_cast<int64_t>(vocab), tol,
                  what + ", sequence " + std::to_string(s));
    }
  };
  auto acquire = [&]() {
    const int32_t slot = *cpu_model->kv_cache().Acquire();
    EXPECT_EQ(*rounded_model->kv_cache().Acquire(), slot);
    EXPECT_EQ(*gpu_model->kv_cache().Acquire(), slot);
    return slot;
  };

  // 1. Every prompt prefilled in one batch.
  BatchLayout prefill;
  std::vector<int32_t> slots;
  for (const ReferenceCase& c : cases) {
    slots.push_back(acquire());
    prefill.Add(slots.back(), 0, c.input_ids.data(), static_cast<int32_t>(c.input_ids.size()));
  }
  run_all(prefill, "batched prefill");
  // 2. One decode token for every sequence (the reference's first greedy token).
  BatchLayout decode;
  for (size_t i = 0; i < cases.size(); ++i) {
    decode.Add(slots[i], static_cast<int32_t>(cases[i].input_ids.size()), &cases[i].greedy_ids[0],
               1);
  }
  run_all(decode, "batched decode");
  // 3. Sequence 0 decodes again while a new sequence prefills prompt 1.
  BatchLayout mixed;
  mixed.Add(slots[0], static_cast<int32_t>(cases[0].input_ids.size()) + 1, &cases[0].greedy_ids[1],
            1);
  const int32_t fresh = acquire();
  mixed.Add(fresh, 0, cases[1].input_ids.data(), static_cast<int32_t>(cases[1].input_ids.size()));
  run_all(mixed, "decode mixed with prefill");
}

// Token trees through the whole forward pass of the well-conditioned bf16 model, the CPU and
// the GPU on the same batches (every token's logits within kWellTol): a verify pass of a
// 40-node tree after its chain root (prefill kernel) beside a chain's decode step; a draft's
// pass adding 3 nodes over the cached tree (decode kernel, tree_base below start_pos) beside
// the chain again; then KvCache::KeepRows keeps one path (device-to-device copies on the
// GPU) and a decode step from it matches too.
TEST(CudaForward, TreeBatchesAndKeepRowsMatchCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  if (!gpu->caps().tree_attention) {
    GTEST_SKIP() << "the CUDA backend does not offer tree attention yet (cuda_backend.cc says "
                    "when it will): CudaAttention.Tree* test the kernels";
  }
  CpuBackend cpu;
  auto weights = LoadRandomWeights(*gpu, RandomLlamaWeights::kBF16);
  auto cpu_model = MakeModel(cpu, *weights, false);
  auto gpu_model = MakeModel(*gpu, *weights, true);
  ASSERT_TRUE(cpu_model && gpu_model);
  const auto vocab = static_cast<int32_t>(weights->config.vocab_size);
  const auto row_len = static_cast<size_t>(vocab);
  LlamaModel* models[2] = {cpu_model.get(), gpu_model.get()};
  Backend* backends[2] = {&cpu, gpu.get()};
  auto run_both = [&](const BatchLayout& batch, LogitsMode mode, const std::string& what) {
    std::vector<float> logits[2];
    for (int b = 0; b < 2; ++b) ASSERT_TRUE(models[b]->Forward(batch, mode, &logits[b]).ok());
    ASSERT_EQ(logits[1].size(), logits[0].size());
    for (size_t r = 0; r < logits[0].size() / row_len; ++r) {
      ExpectClose(Row(logits[1], r, row_len), Row(logits[0], r, row_len), vocab, kWellTol,
                  what + ", row " + std::to_string(r));
    }
  };
  int32_t tree_slot = 0, chain_slot = 0;  // the same on both models
  for (LlamaModel* m : models) {
    tree_slot = *m->kv_cache().Acquire();
    chain_slot = *m->kv_cache().Acquire();
  }
  const std::vector<int32_t> prompt = RandomTokens(20, vocab, 500);
  const std::vector<int32_t> other = RandomTokens(11, vocab, 501);
  BatchLayout batch;
  batch.Add(tree_slot, 0, prompt.data(), static_cast<int32_t>(prompt.size()));
  batch.Add(chain_slot, 0, other.data(), 10);
  run_both(batch, LogitsMode::kLastToken, "prefill");

  // 43 nodes: every third one's parent is the node before it, the others' a random earlier
  // node or the root.
  std::mt19937 rng(502);
  TokenTree tree;
  for (int32_t i = 0; i < 43; ++i) {
    const int32_t parent = i % 3 == 0 ? i - 1 : static_cast<int32_t>(rng() % (i + 1)) - 1;
    tree.Add(parent, static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  }
  const int32_t start = static_cast<int32_t>(prompt.size());
  const int32_t tree_base = start + 1;
  const int32_t root[] = {7};
  batch.Clear();
  tree.AppendSpan(batch, tree_slot, start, root, 0, 40, 0);
  batch.Add(chain_slot, 10, &other[10], 1);
  run_both(batch, LogitsMode::kAllTokens, "verify pass of 40 nodes beside a chain");

  batch.Clear();
  tree.AppendSpan(batch, tree_slot, tree_base + 40, {}, 40, 3, tree_base);
  const int32_t next = 9;
  batch.Add(chain_slot, 11, &next, 1);
  run_both(batch, LogitsMode::kAllTokens, "draft pass of 3 nodes over the cached tree");

  // Keep node 42's path (its ancestors and itself, rows ascending) and decode after it.
  std::vector<int32_t> kept;
  for (int32_t n = 42; n != TokenTree::kRoot; n = tree.parent(n)) kept.push_back(tree_base + n);
  std::reverse(kept.begin(), kept.end());
  for (int b = 0; b < 2; ++b) {
    ASSERT_TRUE(models[b]->kv_cache().KeepRows(*backends[b], tree_slot, tree_base, kept).ok());
  }
  const int32_t length = tree_base + static_cast<int32_t>(kept.size());
  ASSERT_EQ(gpu_model->kv_cache().length(tree_slot), length);
  batch.Clear();
  batch.Add(tree_slot, length, &next, 1);
  run_both(batch, LogitsMode::kLastToken, "decode after KeepRows");
}

}  // namespace
}  // namespace strata::testing
