// Converts one projection of a Hugging Face AWQ or GPTQ 4-bit checkpoint from its published
// layout into Strata's kU4 layout (int4_weights.h), validating every tensor it reads.
//
// The published layouts, for a projection with `in` input and `out` output features, group
// size G (in / G groups; G = in when config.json says -1), all integers little-endian I32:
//   AWQ (AutoAWQ "gemm"):
//     qweight (in, out / 8)   nibble k (bits 4k..4k+3) of [i][c] is the code of input i,
//                             output 8c + kAwqNibbleOrder[k] (the interleaved order)
//     qzeros  (in / G, out / 8)  the zero points, packed the same way
//     scales  (in / G, out)   F16
//     weight[o][i] = (code - zero[i / G][o]) * scales[i / G][o]
//   GPTQ (AutoGPTQ / GPTQModel):
//     qweight (in / 8, out)   nibble k of [r][o] is the code of input 8r + k, output o
//     qzeros  (in / G, out / 8)  nibble k of [g][c] is the stored zero point of output 8c + k:
//                             the zero point minus one mod 16 ("gptq"; a stored 15 reads as
//                             0, as GPTQModel reads it — AutoGPTQ's kernels read 16), or the
//                             zero point itself ("gptq_v2")
//     scales  (in / G, out)   F16
//     g_idx   (in)            the group of each input column (act-order permutes them);
//                             absent: i / G
//     weight[o][i] = (code - zero[g_idx[i]][o]) * scales[g_idx[i]][o]
// In Strata's layout row o holds the codes of output o in stored column order: with act-
// order, stored column j is input col_perm[j], col_perm the stable argsort of g_idx, so each
// group's columns are consecutive; that needs exactly G input columns in every group, which
// GPTQ's act-order produces (other g_idx are refused). Scales go from fp16 to bf16 rounded to
// nearest even — not exact: bf16 keeps 8 significant bits to fp16's 11 (its wider exponent
// covers every fp16 value, subnormals included), so a scale moves by at most 2^-8 of itself
// and a weight by at most 2^-8 * |scale * (code - zero)|. Codes and zero points (integers
// 0..15) are exact.
// Thread-safety: pure functions over immutable inputs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/model/config_quantization.h"
#include "common/model/llama_weights.h"
#include "common/model/safetensors.h"
#include "common/util/status.h"

namespace strata {

// Codes per I32 word, and AWQ's order of outputs within one: nibble k holds output
// kAwqNibbleOrder[k] of the word's eight.
inline constexpr int64_t kHfCodesPerWord = 8;
inline constexpr std::array<int, 8> kAwqNibbleOrder = {0, 2, 4, 6, 1, 3, 5, 7};

// One projection of a checkpoint as stored.
struct HfInt4Source {
  std::string module;                   // "model.layers.3.mlp.down_proj", for messages
  const TensorInfo* qweight = nullptr;  // required
  const TensorInfo* qzeros = nullptr;   // required
  const TensorInfo* scales = nullptr;   // required
  const TensorInfo* g_idx = nullptr;    // GPTQ, optional; AWQ has none
  int64_t out_features = 0;
  int64_t in_features = 0;
};

// A projection in Strata's kU4 layout; owns its arrays (moving it keeps them in place, so
// views stay valid).
struct U4Tensor {
  int64_t rows = 0;  // out_features
  int64_t cols = 0;  // in_features
  int64_t group_size = 0;
  std::vector<uint8_t> codes;     // (rows, cols / 2) two a byte, the even stored column low
  std::vector<uint16_t> scales;   // (rows, cols / group_size) bf16
  std::vector<uint16_t> zeros;    // (rows, cols / group_size) bf16 integers 0..15
  std::vector<int32_t> col_perm;  // (cols) input column of each stored column; empty: identity

  WeightView View() const;
};

// Converts `src` as `q` (AWQ or GPTQ) describes it. Errors (kDataLoss), each naming the module,
// the tensor and its file: a tensor with the wrong dtype (I32, or F16 for scales) or shape for
// the layout; a non-finite scale; a g_idx outside [0, groups) or whose groups are not each
// exactly G columns; with `sym`, a zero point other than 8 (the checkpoint_format is then
// likely wrong). kFailedPrecondition: GPTQ act-order without g_idx.
StatusOr<U4Tensor> ConvertHfInt4(const HfInt4Source& src, const HfQuantization& q);

// `src`'s act-order permutation: ActOrderPermutation of its g_idx (checked: I32 (in)), empty
// without one. kFailedPrecondition when `q` says desc_act and there is no g_idx.
StatusOr<std::vector<int32_t>> HfActOrderPermutation(const HfInt4Source& src,
                                                     const HfQuantization& q);

// The stable argsort of `g_idx` (cols), empty when it is the identity. kDataLoss naming
// `what` when a value is outside [0, cols / group_size) or a group has other than
// `group_size` columns.
StatusOr<std::vector<int32_t>> ActOrderPermutation(const int32_t* g_idx, int64_t cols,
                                                   int64_t group_size, const std::string& what);

}  // namespace strata
