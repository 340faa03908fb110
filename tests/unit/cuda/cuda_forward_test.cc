// The whole Llama forward pass on CudaBackend against the CPU backend and the Hugging Face
// reference, on the committed tiny checkpoint: last-position logits (bf16 weights, and fp8
// weights quantized here), greedy tokens where the reference's margins are clear of the
// observed error, and multi-sequence batches (prefill, batched decode, decode mixed with
// prefill). Needs a GPU: labelled `gpu`.
#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/generator.h"
#include "common/engine/llama_model.h"
#include "common/model/checkpoint.h"
#include "tests/support/reference_fixture.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

constexpr double kBf16LogitTol = 2e-2;
constexpr double kFp8LogitTol = 6e-2;

// The tiny checkpoint's weights for the CPU (host views) and the GPU (device copies),
// optionally with every matrix re-encoded as fp8 e4m3 with per-row scales.
struct TinyWeights {
  std::unique_ptr<Checkpoint> checkpoint;
  std::vector<std::vector<std::byte>> fp8_bytes;  // storage of re-encoded matrices
  std::vector<std::vector<float>> fp8_scales;
  std::vector<DeviceBuffer> device_buffers;
  LlamaWeights host, device;
};

WeightView ToFp8(const WeightView& w, TinyWeights* t) {
  std::vector<float> values(static_cast<size_t>(w.numel()));
  ConvertToFloat(w.data, w.dtype, values.data(), values.size());
  t->fp8_bytes.emplace_back();
  t->fp8_scales.emplace_back();
  QuantizeRowsE4M3(values, w.rows, w.cols, &t->fp8_bytes.back(), &t->fp8_scales.back());
  return WeightView{t->fp8_bytes.back().data(), DType::kF8E4M3, w.rows, w.cols,
                    t->fp8_scales.back().data()};
}

WeightView ToDevice(Backend& gpu, const WeightView& w, TinyWeights* t) {
  WeightView d = w;
  t->device_buffers.push_back(Upload(gpu, w.data, w.nbytes()));
  d.data = t->device_buffers.back().get();
  if (w.scales != nullptr) {
    t->device_buffers.push_back(Upload(gpu, w.scales, static_cast<size_t>(w.rows) * sizeof(float)));
    d.scales = reinterpret_cast<const float*>(t->device_buffers.back().get());
  }
  return d;
}

std::unique_ptr<TinyWeights> LoadTinyWeights(Backend& gpu, bool fp8) {
  auto t = std::make_unique<TinyWeights>();
  StatusOr<Checkpoint> ckpt = Checkpoint::Open(TinyModelDir());
  EXPECT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  if (!ckpt.ok()) return nullptr;
  t->checkpoint = std::make_unique<Checkpoint>(std::move(ckpt).value());
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
  t->device = t->host;
  t->device.embed = ToDevice(gpu, t->host.embed, t.get());
  t->device.final_norm = ToDevice(gpu, t->host.final_norm, t.get());
  t->device.lm_head = ToDevice(gpu, t->host.lm_head, t.get());
  for (size_t i = 0; i < t->host.layers.size(); ++i) {
    const LlamaLayerWeights& h = t->host.layers[i];
    LlamaLayerWeights& d = t->device.layers[i];
    d.attn_norm = ToDevice(gpu, h.attn_norm, t.get());
    d.wq = ToDevice(gpu, h.wq, t.get());
    d.wk = ToDevice(gpu, h.wk, t.get());
    d.wv = ToDevice(gpu, h.wv, t.get());
    d.wo = ToDevice(gpu, h.wo, t.get());
    d.mlp_norm = ToDevice(gpu, h.mlp_norm, t.get());
    d.w_gate = ToDevice(gpu, h.w_gate, t.get());
    d.w_up = ToDevice(gpu, h.w_up, t.get());
    d.w_down = ToDevice(gpu, h.w_down, t.get());
  }
  return t;
}

EngineOptions Options() {
  EngineOptions o;
  o.max_batch_tokens = 128;
  o.max_seq_len = 64;
  o.kv_slots = 6;
  return o;
}

std::unique_ptr<LlamaModel> MakeModel(Backend& backend, const TinyWeights& t, bool device) {
  StatusOr<std::unique_ptr<LlamaModel>> model = LlamaModel::CreateResident(
      backend, t.checkpoint->config(), device ? t.device : t.host, Options());
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

void CompareLastLogits(bool fp8) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  auto weights = LoadTinyWeights(*gpu, fp8);
  ASSERT_NE(weights, nullptr);
  auto cpu_model = MakeModel(cpu, *weights, false);
  auto gpu_model = MakeModel(*gpu, *weights, true);
  ASSERT_TRUE(cpu_model && gpu_model);
  const double tol = fp8 ? kFp8LogitTol : kBf16LogitTol;
  const auto& cases = ReferenceCases();
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<float> want = PromptLogits(*cpu_model, cases[i].input_ids);
    const std::vector<float> got = PromptLogits(*gpu_model, cases[i].input_ids);
    const std::string what = std::string(fp8 ? "fp8" : "bf16") + " case " + std::to_string(i) +
                             " (" + std::to_string(cases[i].input_ids.size()) + " tokens)";
    ExpectClose(got, want, static_cast<int64_t>(want.size()), tol, what + " logits vs CPU");
    if (!fp8) {
      ExpectClose(got, cases[i].logits_last, static_cast<int64_t>(want.size()), tol,
                  what + " logits vs transformers");
    }
  }
}

TEST(CudaForward, Bf16LastLogitsMatchCpuAndReference) { CompareLastLogits(false); }

TEST(CudaForward, Fp8LastLogitsMatchCpu) { CompareLastLogits(true); }

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
  auto weights = LoadTinyWeights(*gpu, false);
  ASSERT_NE(weights, nullptr);
  auto cpu_model = MakeModel(cpu, *weights, false);
  auto gpu_model = MakeModel(*gpu, *weights, true);
  ASSERT_TRUE(cpu_model && gpu_model);
  const auto& cases = ReferenceCases();
  const size_t vocab = static_cast<size_t>(weights->checkpoint->config().vocab_size);
  // Runs the same batch on both models (slots are acquired in the same order on both).
  auto run_both = [&](const BatchLayout& batch, const std::string& what) {
    std::vector<float> want, got;
    ASSERT_TRUE(cpu_model->Forward(batch, LogitsMode::kLastToken, &want).ok());
    ASSERT_TRUE(gpu_model->Forward(batch, LogitsMode::kLastToken, &got).ok());
    for (size_t s = 0; s < batch.seqs.size(); ++s) {
      ExpectClose(Row(got, s, vocab), Row(want, s, vocab), static_cast<int64_t>(vocab),
                  kBf16LogitTol, what + ", sequence " + std::to_string(s));
    }
  };

  // 1. Every prompt prefilled in one batch.
  BatchLayout prefill;
  std::vector<int32_t> slots;
  for (const ReferenceCase& c : cases) {
    const int32_t slot = *cpu_model->kv_cache().Acquire();
    ASSERT_EQ(*gpu_model->kv_cache().Acquire(), slot);
    slots.push_back(slot);
    prefill.Add(slot, 0, c.input_ids.data(), static_cast<int32_t>(c.input_ids.size()));
  }
  run_both(prefill, "batched prefill");
  // 2. One decode token for every sequence (the reference's first greedy token).
  BatchLayout decode;
  for (size_t i = 0; i < cases.size(); ++i) {
    decode.Add(slots[i], static_cast<int32_t>(cases[i].input_ids.size()), &cases[i].greedy_ids[0],
               1);
  }
  run_both(decode, "batched decode");
  // 3. Sequence 0 decodes again while a new sequence prefills prompt 1.
  BatchLayout mixed;
  mixed.Add(slots[0], static_cast<int32_t>(cases[0].input_ids.size()) + 1, &cases[0].greedy_ids[1],
            1);
  const int32_t fresh = *cpu_model->kv_cache().Acquire();
  ASSERT_EQ(*gpu_model->kv_cache().Acquire(), fresh);
  mixed.Add(fresh, 0, cases[1].input_ids.data(), static_cast<int32_t>(cases[1].input_ids.size()));
  run_both(mixed, "decode mixed with prefill");
}

}  // namespace
}  // namespace strata::testing
