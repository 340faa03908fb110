// A checkpoint's weights as the engine binds them: views of its tensors, except that an AWQ or
// GPTQ checkpoint's projections are converted into Strata's kU4 layout (hf_int4_layout.h) and
// owned here. Embeddings, norms and the LM head stay views in their stored dtype (fp16 in most
// AWQ/GPTQ checkpoints: the CPU backend widens any float dtype, packs store them as bf16).
// Thread-safety: functions over an immutable Checkpoint; the results are plain values.
#pragma once

#include <array>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/model/hf_int4_layout.h"
#include "common/model/llama_weights.h"
#include "common/util/status.h"

namespace strata {

struct CheckpointWeights {
  LlamaWeights weights;             // projections point into `converted` when quantised
  std::vector<U4Tensor> converted;  // (layers x 7, kHfProjections order); empty otherwise
};

// Layer `layer`'s seven projections of an AWQ/GPTQ checkpoint, in kHfProjections order, read
// from MODULE.qweight, .qzeros, .scales and (GPTQ) .g_idx. Errors: ConvertHfInt4's; an
// unquantised checkpoint is kFailedPrecondition.
StatusOr<std::array<U4Tensor, kHfProjections.size()>> ConvertHfInt4Layer(
    const Checkpoint& checkpoint, int64_t layer);

// Which projections of an AWQ/GPTQ checkpoint have an act-order permutation (a g_idx other
// than i / G): (layers), each in kHfProjections order. Reads only the g_idx tensors. Errors:
// HfActOrderPermutation's.
StatusOr<std::vector<std::array<bool, kHfProjections.size()>>> HfInt4ActOrdered(
    const Checkpoint& checkpoint);

// Every weight of `checkpoint`: BindLlamaWeights for an unquantised one; for AWQ/GPTQ the
// other tensors bound and the projections converted (their int4 bytes copied: about half the
// bf16 model's size in memory), each layer's act-order permutations bound by
// SharePermutations (int4_weights.h): one array per distinct permutation of an input, none for
// the identity. Errors: BindLlamaWeights's and ConvertHfInt4Layer's.
StatusOr<CheckpointWeights> LoadCheckpointWeights(const Checkpoint& checkpoint);

}  // namespace strata
