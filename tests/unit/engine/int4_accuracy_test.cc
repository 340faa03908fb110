// int4 weights (group 128, round to nearest: the pack writer's rule) against the bf16 weights
// they were made from, on the CPU reference, on a well-conditioned random Llama (weights
// N(0, 0.02), as in fp8_accuracy_test.cc): the last-position logits keep a cosine of at least
// 0.99, and greedy decoding gives the same 32 ids on most prompts. The figures are printed
// for docs/benchmarks.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "common/backend/cpu/cpu_backend.h"
#include "common/engine/llama_model.h"
#include "tests/support/random_llama.h"

namespace strata::testing {
namespace {

constexpr int32_t kPromptCounts[] = {5, 17, 28, 50, 100};
constexpr int32_t kGeneratedTokens = 32;

std::unique_ptr<LlamaModel> ModelOf(Backend& backend, const RandomLlama& m) {
  ServingLimits o;
  o.max_batch_tokens = 128;
  o.max_seq_len = 256;
  StatusOr<std::unique_ptr<LlamaModel>> model =
      LlamaModel::CreateResident(backend, m.config, m.weights, o);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(model).value() : nullptr;
}

// The last position's logits after `ids`, then `kGeneratedTokens` greedy ids.
struct Generated {
  std::vector<float> logits;
  std::vector<int32_t> greedy;
};

Generated Generate(Backend& backend, const RandomLlama& m, const std::vector<int32_t>& ids) {
  Generated run;
  std::unique_ptr<LlamaModel> model = ModelOf(backend, m);
  if (model == nullptr) return run;
  const int32_t slot = *model->kv_cache().Acquire();
  BatchLayout prompt;
  prompt.Add(slot, 0, ids.data(), static_cast<int32_t>(ids.size()));
  std::vector<float> logits;
  EXPECT_TRUE(model->Forward(prompt, LogitsMode::kLastToken, &logits).ok());
  run.logits = logits;
  auto pos = static_cast<int32_t>(ids.size());
  for (int32_t i = 0; i < kGeneratedTokens; ++i) {
    const int32_t next =
        static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    run.greedy.push_back(next);
    BatchLayout step;
    step.Add(slot, pos++, &run.greedy.back(), 1);
    EXPECT_TRUE(model->Forward(step, LogitsMode::kLastToken, &logits).ok());
  }
  return run;
}

TEST(Int4Accuracy, WellConditionedModelKeepsCosineAndMostGreedyRunsWithBf16) {
  CpuBackend cpu;
  const auto bf16 = MakeRandomLlama(7, RandomLlamaWeights::kBF16);
  const auto int4 = MakeRandomLlama(7, RandomLlamaWeights::kInt4);
  double worst = 1.0;
  int same = 0;
  for (int32_t n : kPromptCounts) {
    const std::vector<int32_t> ids =
        RandomTokens(n, static_cast<int32_t>(bf16->config.vocab_size), 100 + n);
    const Generated reference = Generate(cpu, *bf16, ids);
    const Generated quantized = Generate(cpu, *int4, ids);
    const double cosine = Cosine(quantized.logits, reference.logits);
    EXPECT_GE(cosine, 0.99) << n << " tokens";
    worst = std::min(worst, cosine);
    same += quantized.greedy == reference.greedy ? 1 : 0;
  }
  constexpr int kPrompts = static_cast<int>(std::size(kPromptCounts));
  EXPECT_GT(2 * same, kPrompts) << same << " of " << kPrompts << " prompts";
  std::printf("well-conditioned random Llama, CPU, int4 g128 vs bf16: lowest logits cosine "
              "%.5f; greedy %d ids equal on %d of %d prompts\n",
              worst, kGeneratedTokens, same, kPrompts);
}

}  // namespace
}  // namespace strata::testing
