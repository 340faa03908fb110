// Generate: prompt in, tokens out, for one sequence — prefill in chunks of the engine's
// max_batch_tokens, then one decode step per token until an end-of-sequence id or the
// token limit. Thread-safety: drives one LlamaModel; one call at a time per model.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/engine/llama_model.h"
#include "common/engine/sampler.h"
#include "common/serving/finish_rule.h"
#include "common/util/status.h"

namespace strata {

struct GenerateOptions {
  int32_t max_tokens = 32;
  SamplingParams sampling;
  std::vector<int32_t> stop_ids;  // generation ends after emitting any of these (FinishAfter)
};

struct GenerateResult {
  std::vector<int32_t> output_ids;
  std::vector<float> prompt_last_logits;  // (vocab) logits at the last prompt position
  FinishReason finish_reason = FinishReason::kLength;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
};

// Called with each generated id as soon as it is sampled.
using TokenCallback = std::function<void(int32_t id)>;

// Holds a KV slot of `kv` for its lifetime (Acquire at construction, Release at the end).
class SlotLease {
 public:
  // kResourceExhausted when every slot is taken.
  static StatusOr<SlotLease> Acquire(KvCache& kv);
  SlotLease(SlotLease&& other) noexcept : kv_(other.kv_), slot_(other.slot_) { other.kv_ = nullptr; }
  SlotLease& operator=(SlotLease&&) = delete;
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  ~SlotLease();
  int32_t slot() const { return slot_; }

 private:
  SlotLease(KvCache& kv, int32_t slot) : kv_(&kv), slot_(slot) {}
  KvCache* kv_;
  int32_t slot_;
};

// Checks a request against `model` before it runs (the errors Generate lists).
Status ValidateGenerate(const LlamaModel& model, std::span<const int32_t> prompt,
                        const GenerateOptions& options);

// Runs `prompt` into `slot` after the rows it holds, in chunks of the model's
// max_batch_tokens; `logits` gets the last position's (vocab).
Status Prefill(LlamaModel& model, int32_t slot, std::span<const int32_t> prompt,
               std::vector<float>& logits);

// Errors (kInvalidArgument): an empty prompt, bad sampling params, a prompt plus max_tokens
// longer than the engine's context, no free KV slot (kResourceExhausted).
StatusOr<GenerateResult> Generate(LlamaModel& model, std::span<const int32_t> prompt,
                                  const GenerateOptions& options,
                                  const TokenCallback& on_token = {});

}  // namespace strata
