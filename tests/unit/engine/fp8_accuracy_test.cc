// fp8 e4m3 weights (per-row scales, the pack writer's rule) against the bf16 weights they
// were made from, on the CPU reference, on a well-conditioned random Llama (weights
// N(0, 0.02) as transformers initialises them): the last-position logits must keep a cosine
// of at least 0.99 — the accuracy the issue asks of an fp8 pack. The committed fixture
// cannot show this (its std-0.25 weights are chaotic: 0.87-0.98, see Fp8Pack.*).
#include <gtest/gtest.h>

#include <cstdio>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/llama_model.h"
#include "tests/support/random_llama.h"

namespace strata::testing {
namespace {

std::vector<float> LastLogits(Backend& backend, const RandomLlama& m,
                              const std::vector<int32_t>& ids) {
  ServingLimits o;
  o.max_batch_tokens = o.max_seq_len = 128;
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::CreateResident(backend, m.config, m.weights, o);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  const int32_t slot = *(*model)->kv_cache().Acquire();
  BatchLayout batch;
  batch.Add(slot, 0, ids.data(), static_cast<int32_t>(ids.size()));
  std::vector<float> logits;
  EXPECT_TRUE((*model)->Forward(batch, LogitsMode::kLastToken, &logits).ok());
  return logits;
}

TEST(Fp8Accuracy, WellConditionedModelKeepsCosineWithBf16) {
  CpuBackend cpu;
  const auto bf16 = MakeRandomLlama(7, RandomLlamaWeights::kBF16);
  const auto fp8 = MakeRandomLlama(7, RandomLlamaWeights::kFP8);
  double worst = 1.0;
  for (int32_t n : {5, 28, 100}) {
    const std::vector<int32_t> ids =
        RandomTokens(n, static_cast<int32_t>(bf16->config.vocab_size), 100 + n);
    const double cosine = Cosine(LastLogits(cpu, *fp8, ids), LastLogits(cpu, *bf16, ids));
    EXPECT_GE(cosine, 0.99) << n << " tokens";
    worst = std::min(worst, cosine);
  }
  std::printf("well-conditioned random Llama, CPU: lowest cosine fp8 vs bf16 logits: %.5f\n",
              worst);
}

}  // namespace
}  // namespace strata::testing
