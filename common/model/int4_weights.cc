// Round-to-nearest int4 quantisation, exact dequantisation, and the binding of act-order
// permutations (see int4_weights.h).
#include "common/model/int4_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/util/check.h"

namespace strata {

Status CheckInt4GroupSize(int64_t group_size, int64_t cols, const std::string& what) {
  if (group_size <= 0 || group_size % 2 != 0 || cols % group_size != 0) {
    return InvalidArgument(what + ": an int4 group size must be a positive even divisor of its " +
                           std::to_string(cols) + " input columns, not " +
                           std::to_string(group_size) + "; pick another --group-size");
  }
  return OkStatus();
}

std::optional<int64_t> QuantizeRowU4(const float* row, int64_t cols, int64_t group_size,
                                     uint8_t* codes, uint16_t* scales, uint16_t* zeros) {
  STRATA_CHECK(group_size > 0 && group_size % 2 == 0 && cols % group_size == 0);
  std::fill(codes, codes + cols / 2, uint8_t{0});
  for (int64_t g = 0; g < cols / group_size; ++g) {
    const float* w = row + g * group_size;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < group_size; ++i) {
      if (!std::isfinite(w[i])) return g * group_size + i;
      lo = std::min(lo, w[i]);
      hi = std::max(hi, w[i]);
    }
    // Rounded up to bf16, so that 15 steps still span the range.
    float scale = BF16ToFloat(FloatToBF16((hi - lo) / kU4MaxCode));
    if (scale * kU4MaxCode < hi - lo) scale = BF16ToFloat(FloatToBF16(scale) + 1);
    if (scale == 0.0f) scale = 1.0f;  // all zeros (or a range below bf16's smallest)
    const float zero = std::clamp(std::nearbyint(-lo / scale), 0.0f, float{kU4MaxCode});
    scales[g] = FloatToBF16(scale);
    zeros[g] = FloatToBF16(zero);
    for (int64_t i = 0; i < group_size; ++i) {
      const float q = std::clamp(std::nearbyint(w[i] / scale) + zero, 0.0f, float{kU4MaxCode});
      const int64_t c = g * group_size + i;
      codes[c / 2] |= static_cast<uint8_t>(static_cast<uint8_t>(q) << (c % 2 == 0 ? 0 : 4));
    }
  }
  return std::nullopt;
}

void DequantizeU4Rows(const WeightView& w, int64_t first_row, int64_t rows, float* out) {
  STRATA_CHECK(w.dtype == DType::kU4 && w.group_scales != nullptr && w.group_zeros != nullptr &&
               w.group_size > 0 && w.cols % w.group_size == 0);
  STRATA_CHECK(first_row >= 0 && first_row + rows <= w.rows);
  const int64_t groups = w.groups_per_row();
  const auto* codes = reinterpret_cast<const uint8_t*>(w.data);
  for (int64_t r = first_row; r < first_row + rows; ++r) {
    const uint8_t* q = codes + r * (w.cols / 2);
    float* dst = out + (r - first_row) * w.cols;
    for (int64_t j = 0; j < w.cols; ++j) {
      const int64_t g = r * groups + j / w.group_size;
      const float code = static_cast<float>(j % 2 == 0 ? q[j / 2] & 0xf : q[j / 2] >> 4);
      const float value = (code - BF16ToFloat(w.group_zeros[g])) * BF16ToFloat(w.group_scales[g]);
      dst[w.col_perm != nullptr ? w.col_perm[j] : j] = value;
    }
  }
}

bool IsIdentityPermutation(const int32_t* perm, int64_t cols) {
  for (int64_t j = 0; j < cols; ++j) {
    if (perm[j] != j) return false;
  }
  return true;
}

void SharePermutations(LlamaLayerWeights& layer) {
  for (size_t k = 0; k < kHfProjections.size(); ++k) {
    WeightView& w = layer.*kHfProjections[k].member;
    if (w.col_perm == nullptr) continue;
    if (IsIdentityPermutation(w.col_perm, w.cols)) {
      w.col_perm = nullptr;
      continue;
    }
    // The earlier projections are bound already: the first equal one holds the array.
    for (size_t e = 0; e < k; ++e) {
      const WeightView& earlier = layer.*kHfProjections[e].member;
      if (earlier.col_perm != nullptr && kHfProjections[e].input == kHfProjections[k].input &&
          earlier.cols == w.cols &&
          std::memcmp(earlier.col_perm, w.col_perm,
                      static_cast<size_t>(w.cols) * sizeof(int32_t)) == 0) {
        w.col_perm = earlier.col_perm;
        break;
      }
    }
  }
}

}  // namespace strata
