// int4 group quantisation (int4_weights.h): weights already on a group's grid survive
// QuantizeRowU4 exactly; any other weight lands within half a step of its group's scale; a
// group of zeros stays zero and 0 is exact in any group; a non-finite weight is reported by column; DequantizeU4Rows
// undoes an input-column permutation; group sizes that do not cut the rows are refused;
// SharePermutations binds equal permutations of one input to one array and the identity to none.
#include "common/model/int4_weights.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace strata {
namespace {

using ::testing::HasSubstr;

// A kU4 view of one row (or `rows` rows) over the given arrays.
WeightView View(const std::vector<uint8_t>& codes, const std::vector<uint16_t>& scales,
                const std::vector<uint16_t>& zeros, int64_t rows, int64_t cols, int64_t group) {
  WeightView w;
  w.data = reinterpret_cast<const std::byte*>(codes.data());
  w.dtype = DType::kU4;
  w.rows = rows;
  w.cols = cols;
  w.group_size = group;
  w.group_scales = scales.data();
  w.group_zeros = zeros.data();
  return w;
}

struct Quantized {
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales, zeros;
  std::vector<float> dequantized;
};

Quantized Quantize(const std::vector<float>& row, int64_t group) {
  const auto cols = static_cast<int64_t>(row.size());
  Quantized q{std::vector<uint8_t>(row.size() / 2), std::vector<uint16_t>(row.size() / group),
              std::vector<uint16_t>(row.size() / group), std::vector<float>(row.size())};
  EXPECT_EQ(QuantizeRowU4(row.data(), cols, group, q.codes.data(), q.scales.data(), q.zeros.data()),
            std::nullopt);
  DequantizeU4Rows(View(q.codes, q.scales, q.zeros, 1, cols, group), 0, 1, q.dequantized.data());
  return q;
}

TEST(Int4Weights, WeightsOnTheGridRoundTripExactly) {
  constexpr int64_t kGroup = 32, kCols = 128;
  std::mt19937 rng(3);
  std::vector<float> row(kCols);
  for (int64_t g = 0; g < kCols / kGroup; ++g) {
    const float scale = BF16ToFloat(FloatToBF16(0.001f * static_cast<float>(1 + g)));
    const int zero = 1 + static_cast<int>(rng() % 14);
    for (int64_t i = 0; i < kGroup; ++i) {
      // Codes 0 and 15 in every group, so its range is exactly 15 steps.
      const int code = i == 0 ? 0 : i == 1 ? 15 : static_cast<int>(rng() % 16);
      row[static_cast<size_t>(g * kGroup + i)] = static_cast<float>(code - zero) * scale;
    }
  }
  const Quantized q = Quantize(row, kGroup);
  EXPECT_EQ(q.dequantized, row);
}

TEST(Int4Weights, AnyWeightLandsWithinHalfAStepOfItsGroup) {
  constexpr int64_t kGroup = 128, kCols = 1024;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> row(kCols);
  for (float& v : row) v = normal(rng);
  row[7] = 0.5f;  // an outlier widens its group's step
  const Quantized q = Quantize(row, kGroup);
  for (int64_t c = 0; c < kCols; ++c) {
    const float step = BF16ToFloat(q.scales[static_cast<size_t>(c / kGroup)]);
    EXPECT_LE(std::fabs(q.dequantized[static_cast<size_t>(c)] - row[static_cast<size_t>(c)]),
              0.5f * step * 1.0001f)
        << "column " << c;
  }
  EXPECT_GT(BF16ToFloat(q.scales[0]), 4 * BF16ToFloat(q.scales[1]));
}

TEST(Int4Weights, AGroupOfZerosStaysZeroAndZeroIsExactInEveryGroup) {
  std::vector<float> row(64, 0.0f);
  for (size_t i = 33; i < 64; ++i) row[i] = -0.25f + 0.01f * static_cast<float>(i % 7);
  const Quantized q = Quantize(row, 32);
  for (size_t i = 0; i < 33; ++i) EXPECT_EQ(q.dequantized[i], 0.0f) << i;  // row[32] is 0 too
}

TEST(Int4Weights, ANonFiniteWeightIsReportedByColumn) {
  std::vector<float> row(64, 0.1f);
  row[41] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint8_t> codes(32);
  std::vector<uint16_t> scales(2), zeros(2);
  EXPECT_EQ(QuantizeRowU4(row.data(), 64, 32, codes.data(), scales.data(), zeros.data()),
            std::optional<int64_t>(41));
}

TEST(Int4Weights, DequantizationUndoesTheInputPermutation) {
  constexpr int64_t kCols = 8;
  // Stored column j holds code j, one group with scale 1 and zero 0: value j.
  const std::vector<uint8_t> codes = {0x10, 0x32, 0x54, 0x76};
  const std::vector<uint16_t> scales = {FloatToBF16(1.0f)}, zeros = {FloatToBF16(0.0f)};
  WeightView w = View(codes, scales, zeros, 1, kCols, kCols);
  const std::vector<int32_t> perm = {3, 0, 7, 1, 6, 2, 5, 4};
  w.col_perm = perm.data();
  std::vector<float> out(kCols);
  DequantizeU4Rows(w, 0, 1, out.data());
  for (int64_t j = 0; j < kCols; ++j) EXPECT_EQ(out[static_cast<size_t>(perm[static_cast<size_t>(j)])], j);
}

TEST(Int4Weights, GroupSizesThatDoNotCutTheRowsAreRefused) {
  EXPECT_TRUE(CheckInt4GroupSize(128, 8192, "w").ok());
  EXPECT_TRUE(CheckInt4GroupSize(32, 64, "w").ok());
  for (int64_t bad : {0, -128, 3, 48, 100}) {
    const Status s = CheckInt4GroupSize(bad, 64, "tensor layer.0.wq");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("layer.0.wq"));
    EXPECT_THAT(s.message(), HasSubstr("--group-size"));
  }
}

// Equal contents in different arrays are shared only between projections of one input (q, k,
// v; gate, up), unequal ones and other inputs' keep their own, the identity binds none.
TEST(Int4Weights, SharePermutationsBindsOneArrayPerInputAndNoneForTheIdentity) {
  constexpr int64_t kCols = 8;
  const std::vector<int32_t> order = {3, 1, 7, 5, 0, 2, 6, 4};
  std::vector<int32_t> identity(kCols);
  std::iota(identity.begin(), identity.end(), 0);
  std::vector<int32_t> other = order;
  std::swap(other[0], other[1]);
  // Every array its own copy, so that only contents can make two pointers equal.
  std::vector<std::vector<int32_t>> arrays = {order, order, other, identity, order, order, order};
  LlamaLayerWeights layer;
  for (size_t k = 0; k < kHfProjections.size(); ++k) {
    WeightView& w = layer.*kHfProjections[k].member;
    w.cols = kCols;
    w.col_perm = arrays[k].data();
  }
  layer.w_down.col_perm = nullptr;  // no permutation stays none
  SharePermutations(layer);
  EXPECT_EQ(layer.wq.col_perm, arrays[0].data());
  EXPECT_EQ(layer.wk.col_perm, arrays[0].data());  // q's: same input, same order
  EXPECT_EQ(layer.wv.col_perm, arrays[2].data());  // another order keeps its own
  EXPECT_EQ(layer.wo.col_perm, nullptr);           // the identity
  EXPECT_EQ(layer.w_gate.col_perm, arrays[4].data());  // q's order, but another input
  EXPECT_EQ(layer.w_up.col_perm, arrays[4].data());
  EXPECT_EQ(layer.w_down.col_perm, nullptr);
  const LlamaLayerWeights once = layer;
  SharePermutations(layer);  // binding again changes nothing
  for (const HfProjection& p : kHfProjections) EXPECT_EQ((layer.*p.member).col_perm, (once.*p.member).col_perm);
}

}  // namespace
}  // namespace strata
