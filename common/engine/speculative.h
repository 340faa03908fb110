// GenerateSpeculative: Generate with a draft model (speculative decoding). Each round the
// draft grows a token tree below the last accepted token (DraftTree), the target runs the
// whole tree in one pass (tree attention), and a walk from the root takes, at each node, the
// target's own next token — its argmax for greedy requests, a draw from its distribution
// with the request's sampler otherwise — and moves to the child holding it, until no child
// does: every token comes from the target's distribution at its true context, so greedy
// output is exactly plain greedy decoding's and sampled output keeps the target's
// distribution (with one draw per token, the same seed gives the same tokens as plain
// decoding wherever the logits agree). Both caches then keep the accepted path only
// (KvCache::KeepRows). Thread-safety: drives both models; one call at a time per model.
#pragma once

#include <cstdint>
#include <span>

#include "common/engine/generator.h"
#include "common/engine/llama_model.h"
#include "common/util/status.h"
#include "common/serving/speculation.h"

namespace strata {

struct SpeculativeOptions {
  // Nodes verified per target pass, beside the root; with `adaptive`, the most.
  int32_t tree_tokens = 16;
  // Each pass verifies the tree size TreeBudget chooses from measured pass costs and the
  // running acceptance ("--speculative auto"); else always tree_tokens.
  bool adaptive = false;
  int32_t branch = kDefaultDraftBranch;  // children the draft ranks below each node
  int32_t expand_batch = 8;  // nodes the draft expands per pass
};

// Errors of an options struct, by flag name (kInvalidArgument).
Status ValidateSpeculativeOptions(const SpeculativeOptions& options);

struct SpeculativeStats {
  int64_t passes = 0;        // target passes after the prefill (each verifies a tree)
  int64_t tree_nodes = 0;    // nodes verified, summed over the passes
  int64_t accepted = 0;      // nodes accepted, summed (each pass also yields one token more)
  int64_t draft_passes = 0;  // draft passes, catch-up included
  double draft_seconds = 0.0;
  double verify_seconds = 0.0;
};

struct SpeculativeResult {
  GenerateResult generated;
  SpeculativeStats stats;
};

// Errors: Generate's; a draft whose vocabulary differs from the target's
// (kInvalidArgument); no free KV slot in either model (kResourceExhausted). Both models'
// contexts must hold the prompt, max_tokens and the tree (kInvalidArgument otherwise).
StatusOr<SpeculativeResult> GenerateSpeculative(LlamaModel& target, LlamaModel& draft,
                                                std::span<const int32_t> prompt,
                                                const GenerateOptions& options,
                                                const SpeculativeOptions& speculative,
                                                const TokenCallback& on_token = {});

}  // namespace strata
