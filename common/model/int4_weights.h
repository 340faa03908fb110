// Group-wise asymmetric 4-bit weights (DType::kU4, WeightView's group fields): round-to-
// nearest quantisation of a row, as `strata pack --dtype int4` writes it, and the exact
// dequantisation that is the CPU reference for every backend's int4 kernels.
// A row of `cols` weights is cut into groups of `group_size` consecutive (stored) columns;
// each group has a bf16 scale s and a bf16 zero point z, and a weight is (q - z) * s with its
// code q in 0..15 (zero points of Hugging Face AWQ/GPTQ checkpoints are integers, exact in
// bf16).
// An act-order weight's stored columns are a permutation of its input columns (col_perm).
// Projections that read one input and were quantised with one column order (GPTQ derives it
// from that input's statistics) are bound to one col_perm array, and an identity order to none,
// so a backend gathers x once per input, or not at all: SharePermutations is that rule.
// Thread-safety: functions without shared state.
#pragma once

#include <cstdint>
#include <optional>

#include "common/model/llama_weights.h"

namespace strata {

inline constexpr int64_t kDefaultInt4GroupSize = 128;
inline constexpr int kU4MaxCode = 15;

// Whether `group_size` can cut rows of `cols`: a positive even divisor of cols. kInvalidArgument
// otherwise, naming the weight `what`.
Status CheckInt4GroupSize(int64_t group_size, int64_t cols, const std::string& what);

// Quantises `row` (cols) group by group: the group's range widened to hold 0, s = range / 15
// rounded up to bf16 (1 for a group of zeros), z = round(-min / s) in 0..15, q = clamp(round(w /
// s) + z, 0, 15). Writes codes (cols / 2 bytes, the even column in the low nibble), scales and
// zeros (cols / group_size each, bf16 bits). Returns the first non-finite column, if any (then
// the outputs are unspecified).
std::optional<int64_t> QuantizeRowU4(const float* row, int64_t cols, int64_t group_size,
                                     uint8_t* codes, uint16_t* scales, uint16_t* zeros);

// out (rows, w.cols) = the real weights of rows [first_row, first_row + rows) of the kU4 `w`,
// in input column order (w.col_perm undone). Exact: (q - z) * s in float.
void DequantizeU4Rows(const WeightView& w, int64_t first_row, int64_t rows, float* out);

// Whether `perm` (cols) is 0, 1, .., cols - 1.
bool IsIdentityPermutation(const int32_t* perm, int64_t cols);

// Rebinds `layer`'s col_perm pointers (they must be in host memory: the arrays are read):
// an identity permutation to null; one equal to that of an earlier projection reading the same
// input (HfProjection::input) to that projection's array; any other stays as it is.
void SharePermutations(LlamaLayerWeights& layer);

}  // namespace strata
