// Range checks of the coordinator's control messages, run by the worker before it acts on
// one (Stage::Create, OpenSequence, RunStep), and of the sequence slices of every activation
// header a previous stage sends: every layer id, count, position, size and token id is
// checked against the assignment and the model, so a corrupt or hostile message is refused
// with kInvalidArgument naming the field instead of reaching the engine (whose own checks
// assume sane integers: positions are computed as start_pos + i). The fuzz target
// tests/fuzz/control_message_fuzz.cc runs them on arbitrary bytes.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>

#include "common/proto/strata_control.pb.h"
#include "common/transport/message.h"
#include "common/util/status.h"

namespace strata::worker {

// An Assignment for a model of `model_layers` layers: stage in [0, num_stages); layers
// [first_layer, first_layer + num_layers) non-empty and inside [0, model_layers);
// max_batch_tokens, max_seq_len and kv_slots at least 1 (the engine checks their upper
// bounds against the model, ValidateServingLimits). The placement's fields are
// cluster::ReadPlacement's to check.
Status CheckAssignment(const control::v1::Assignment& a, int64_t model_layers);

// An OpenSequence for a stage under `a`: prompt_tokens in [1, max_seq_len].
Status CheckOpenSequence(const control::v1::OpenSequence& open, const control::v1::Assignment& a);

// A Step for the first stage under `a`: at least one sequence, each with at least one token,
// every token id in [0, vocab_size), tree parents none or one per token and they and the kept
// nodes within [-1, kMaxTreeRows] (the tree's shape is transport::ValidateSliceTrees'), and
// its slices as CheckSlices.
Status CheckStep(const control::v1::Step& step, const control::v1::Assignment& a,
                 int64_t vocab_size);

// The sequences of one batch (a Step's, or an activation header's): at most kv_slots of them,
// none twice, each at positions [start_pos, start_pos + n_tokens) with n_tokens >= 1 inside
// [0, max_seq_len), at most max_batch_tokens tokens in all.
Status CheckSlices(std::span<const transport::SeqSlice> slices, const control::v1::Assignment& a);

}  // namespace strata::worker
