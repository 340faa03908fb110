// Generate (see generator.h).
#include "common/engine/generator.h"

#include <algorithm>
#include <chrono>
#include <string>

namespace strata {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

StatusOr<SlotLease> SlotLease::Acquire(KvCache& kv) {
  const std::optional<int32_t> slot = kv.Acquire();
  if (!slot) return ResourceExhausted("no free KV-cache slot: all sequences are busy");
  return SlotLease(kv, *slot);
}

SlotLease::~SlotLease() {
  if (kv_ != nullptr) kv_->Release(slot_);
}

Status ValidateGenerate(const LlamaModel& model, std::span<const int32_t> prompt,
                        const GenerateOptions& options) {
  if (prompt.empty()) return InvalidArgument("the prompt is empty: give at least one token");
  if (options.max_tokens < 0) {
    return InvalidArgument("max_tokens must be >= 0, got " + std::to_string(options.max_tokens));
  }
  STRATA_RETURN_IF_ERROR(ValidateSamplingParams(options.sampling));
  const int64_t needed = static_cast<int64_t>(prompt.size()) + options.max_tokens;
  if (needed > model.max_seq_len()) {
    return InvalidArgument("prompt of " + std::to_string(prompt.size()) + " tokens plus " +
                           std::to_string(options.max_tokens) + " new tokens exceeds the context of " +
                           std::to_string(model.max_seq_len()) + " positions");
  }
  return OkStatus();
}

Status Prefill(LlamaModel& model, int32_t slot, std::span<const int32_t> prompt,
               std::vector<float>& logits) {
  BatchLayout batch;
  const int32_t chunk = model.options().max_batch_tokens;
  const int32_t start = model.kv_cache().length(slot);
  for (size_t done = 0; done < prompt.size();) {
    const int32_t n = static_cast<int32_t>(std::min<size_t>(chunk, prompt.size() - done));
    batch.Clear();
    batch.Add(slot, start + static_cast<int32_t>(done), prompt.data() + done, n);
    STRATA_RETURN_IF_ERROR(model.Forward(batch, LogitsMode::kLastToken, &logits));
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

StatusOr<GenerateResult> Generate(LlamaModel& model, std::span<const int32_t> prompt,
                                  const GenerateOptions& options, const TokenCallback& on_token) {
  STRATA_RETURN_IF_ERROR(ValidateGenerate(model, prompt, options));
  STRATA_ASSIGN_OR_RETURN(SlotLease lease, SlotLease::Acquire(model.kv_cache()));

  GenerateResult result;
  BatchLayout batch;
  std::vector<float> logits;
  const auto prefill_start = std::chrono::steady_clock::now();
  STRATA_RETURN_IF_ERROR(Prefill(model, lease.slot(), prompt, logits));
  result.prefill_seconds = SecondsSince(prefill_start);
  result.prompt_last_logits = logits;

  const auto decode_start = std::chrono::steady_clock::now();
  Sampler sampler(options.sampling);
  // Greedy decode steps take the argmax on the backend: no logits copied to the host.
  const bool greedy = options.sampling.temperature == 0.0f || options.sampling.top_k == 1;
  std::vector<int32_t> greedy_id;
  int32_t position = static_cast<int32_t>(prompt.size());
  for (int32_t i = 0; i < options.max_tokens; ++i) {
    int32_t id = 0;
    if (i == 0) {
      id = sampler.Sample(logits);
    } else {
      const int32_t last = result.output_ids.back();
      batch.Clear();
      batch.Add(lease.slot(), position++, &last, 1);
      if (greedy) {
        STRATA_RETURN_IF_ERROR(model.ForwardStage(batch, {}, nullptr, LogitsMode::kLastToken,
                                                  nullptr, ActivationMemory::kHost, &greedy_id));
        id = greedy_id[0];
      } else {
        STRATA_RETURN_IF_ERROR(model.Forward(batch, LogitsMode::kLastToken, &logits));
        id = sampler.Sample(logits);
      }
    }
    result.output_ids.push_back(id);
    if (on_token) on_token(id);
    if (const std::optional<FinishReason> finish =
            FinishAfter(id, i + 1, options.max_tokens, options.stop_ids)) {
      result.finish_reason = *finish;
      break;
    }
  }
  result.decode_seconds = SecondsSince(decode_start);
  return result;
}

}  // namespace strata
