// AWQ/GPTQ projections into kU4: validate the stored tensors, unpack the codes a block of
// output rows at a time (so reads of both layouts stay sequential), reorder them by the act-
// order permutation, pack two a byte; scales and zero points to bf16. Thread-safety: pure.
#include "common/model/hf_int4_layout.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "common/model/dtype.h"
#include "common/model/int4_weights.h"

namespace strata {
namespace {

constexpr int64_t kBlockRows = 64;  // output rows unpacked together (a multiple of 8)
constexpr uint32_t kNibbleMask = 0xf;
constexpr int kSymmetricZero = 8;
constexpr char kFix[] =
    "; the checkpoint is corrupt or its config.json quantization_config does not describe it";

std::string Shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// `t` must be I32 (or F16 when `f16`) with exactly `shape`.
Status CheckTensor(const HfInt4Source& src, const TensorInfo* t, const char* field,
                   const std::vector<int64_t>& shape, bool f16, std::string_view layout) {
  const std::string name = src.module + "." + field;
  if (t == nullptr) {
    return DataLoss("tensor '" + name + "' is missing; a " + std::string(layout) +
                    " checkpoint stores every projection as qweight, qzeros and scales" + kFix);
  }
  const bool dtype_ok = f16 ? (!t->i32 && t->dtype == DType::kF16) : t->i32;
  if (!dtype_ok || t->shape != shape) {
    return DataLoss("tensor '" + name + "' in " + t->file + " is " + std::string(t->DTypeString()) +
                    " " + t->ShapeString() + ", but " + std::string(layout) + " stores it as " +
                    (f16 ? "F16 " : "I32 ") + Shape(shape) + kFix);
  }
  return OkStatus();
}

int32_t Word(const TensorInfo& t, int64_t index) {
  int32_t w;
  std::memcpy(&w, t.data + index * int64_t{sizeof(int32_t)}, sizeof w);
  return w;
}

uint32_t Nibble(int32_t word, int k) {
  return (static_cast<uint32_t>(word) >> (4 * k)) & kNibbleMask;
}

// tmp (rows, in) = the codes of outputs [o0, o0 + rows), in input order.
void UnpackBlock(const HfInt4Source& src, bool awq, int64_t o0, int64_t rows, uint8_t* tmp) {
  const int64_t in = src.in_features, out = src.out_features;
  const TensorInfo& qw = *src.qweight;
  if (awq) {  // (in, out / 8): a row of words per input
    for (int64_t i = 0; i < in; ++i) {
      for (int64_t c = o0 / kHfCodesPerWord; c < (o0 + rows) / kHfCodesPerWord; ++c) {
        const int32_t w = Word(qw, i * (out / kHfCodesPerWord) + c);
        for (int k = 0; k < kHfCodesPerWord; ++k) {
          const int64_t o = c * kHfCodesPerWord + kAwqNibbleOrder[static_cast<size_t>(k)];
          tmp[(o - o0) * in + i] = static_cast<uint8_t>(Nibble(w, k));
        }
      }
    }
    return;
  }
  for (int64_t r = 0; r < in / kHfCodesPerWord; ++r) {  // (in / 8, out): 8 inputs per word
    for (int64_t o = o0; o < o0 + rows; ++o) {
      const int32_t w = Word(qw, r * out + o);
      for (int k = 0; k < kHfCodesPerWord; ++k) {
        tmp[(o - o0) * in + r * kHfCodesPerWord + k] = static_cast<uint8_t>(Nibble(w, k));
      }
    }
  }
}

// dst scales and zeros (out, groups) from the stored (groups, out) scales and (groups, out / 8)
// zeros, checking scales are finite and, with `sym`, zero points are 8.
Status ConvertScalesAndZeros(const HfInt4Source& src, const HfQuantization& q, bool awq,
                             int64_t groups, U4Tensor& dst) {
  const int64_t out = src.out_features;
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t c = 0; c < out / kHfCodesPerWord; ++c) {
      const int32_t w = Word(*src.qzeros, g * (out / kHfCodesPerWord) + c);
      for (int k = 0; k < kHfCodesPerWord; ++k) {
        const int64_t o =
            c * kHfCodesPerWord + (awq ? kAwqNibbleOrder[static_cast<size_t>(k)] : k);
        const uint32_t zero = (Nibble(w, k) + static_cast<uint32_t>(q.zero_offset)) & kNibbleMask;
        if (q.sym && zero != kSymmetricZero) {
          return DataLoss("tensor '" + src.module + ".qzeros' in " + src.qzeros->file +
                          ": quantization_config says sym, but group " + std::to_string(g) +
                          " of output " + std::to_string(o) + " has zero point " +
                          std::to_string(zero) + ", not 8; its checkpoint_format is likely " +
                          "wrong (\"gptq\" stores zero points minus one, \"gptq_v2\" as they are)");
        }
        dst.zeros[static_cast<size_t>(o * groups + g)] = FloatToBF16(static_cast<float>(zero));
      }
    }
    for (int64_t o = 0; o < out; ++o) {
      uint16_t half;
      std::memcpy(&half, src.scales->data + (g * out + o) * int64_t{sizeof half}, sizeof half);
      const float scale = F16ToFloat(half);
      if (!std::isfinite(scale)) {
        return DataLoss("tensor '" + src.module + ".scales' in " + src.scales->file +
                        " has a non-finite scale at group " + std::to_string(g) + ", output " +
                        std::to_string(o) + kFix);
      }
      dst.scales[static_cast<size_t>(o * groups + g)] = FloatToBF16(scale);
    }
  }
  return OkStatus();
}

}  // namespace

WeightView U4Tensor::View() const {
  WeightView v;
  v.data = reinterpret_cast<const std::byte*>(codes.data());
  v.dtype = DType::kU4;
  v.rows = rows;
  v.cols = cols;
  v.group_scales = scales.data();
  v.group_zeros = zeros.data();
  v.group_size = group_size;
  v.col_perm = col_perm.empty() ? nullptr : col_perm.data();
  return v;
}

StatusOr<std::vector<int32_t>> ActOrderPermutation(const int32_t* g_idx, int64_t cols,
                                                   int64_t group_size, const std::string& what) {
  const int64_t groups = cols / group_size;
  std::vector<int64_t> count(static_cast<size_t>(groups), 0);  // (groups)
  for (int64_t i = 0; i < cols; ++i) {
    if (g_idx[i] < 0 || g_idx[i] >= groups) {
      return DataLoss(what + " puts input column " + std::to_string(i) + " in group " +
                      std::to_string(g_idx[i]) + ", outside the " + std::to_string(groups) +
                      " groups" + kFix);
    }
    ++count[static_cast<size_t>(g_idx[i])];
  }
  for (int64_t g = 0; g < groups; ++g) {
    if (count[static_cast<size_t>(g)] != group_size) {
      return DataLoss(what + " puts " + std::to_string(count[static_cast<size_t>(g)]) +
                      " input columns in group " + std::to_string(g) + "; Strata needs exactly " +
                      "group_size (" + std::to_string(group_size) + ") in every group, as " +
                      "GPTQ's act-order makes them (static or uneven groups are not supported)");
    }
  }
  std::vector<int32_t> perm(static_cast<size_t>(cols));  // (cols)
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return g_idx[a] < g_idx[b]; });
  if (IsIdentityPermutation(perm.data(), cols)) perm.clear();
  return perm;
}

StatusOr<std::vector<int32_t>> HfActOrderPermutation(const HfInt4Source& src,
                                                     const HfQuantization& q) {
  if (src.g_idx == nullptr) {
    if (q.desc_act) {
      return FailedPrecondition("tensor '" + src.module + ".g_idx' is missing, but " +
                                "quantization_config says desc_act (act-order), which needs " +
                                "it; the checkpoint is incomplete — re-download it");
    }
    return std::vector<int32_t>{};
  }
  STRATA_RETURN_IF_ERROR(
      CheckTensor(src, src.g_idx, "g_idx", {src.in_features}, /*f16=*/false, "GPTQ"));
  std::vector<int32_t> g_idx(static_cast<size_t>(src.in_features));  // (in)
  std::memcpy(g_idx.data(), src.g_idx->data, g_idx.size() * sizeof(int32_t));
  return ActOrderPermutation(g_idx.data(), src.in_features, q.GroupSizeFor(src.in_features),
                             "tensor '" + src.module + ".g_idx' in " + src.g_idx->file);
}

StatusOr<U4Tensor> ConvertHfInt4(const HfInt4Source& src, const HfQuantization& q) {
  const bool awq = q.method == HfQuantization::Method::kAwq;
  const std::string_view layout = awq ? "AWQ" : "GPTQ";
  const int64_t in = src.in_features, out = src.out_features;
  const int64_t group_size = q.GroupSizeFor(in);
  const int64_t groups = in / group_size;
  const int64_t words_out = out / kHfCodesPerWord;
  const int64_t in_multiple = awq ? 2 : kHfCodesPerWord;  // GPTQ packs 8 inputs a word
  if (out % kHfCodesPerWord != 0 || in % in_multiple != 0) {
    return DataLoss(src.module + ": a " + std::string(layout) + " projection needs output " +
                    "features divisible by 8 and input features by " + std::to_string(in_multiple) +
                    ", but it is (" + std::to_string(out) + ", " + std::to_string(in) + ")" + kFix);
  }
  STRATA_RETURN_IF_ERROR(CheckTensor(src, src.qweight, "qweight",
                                     awq ? std::vector<int64_t>{in, words_out}
                                         : std::vector<int64_t>{in / kHfCodesPerWord, out},
                                     /*f16=*/false, layout));
  STRATA_RETURN_IF_ERROR(
      CheckTensor(src, src.qzeros, "qzeros", {groups, words_out}, /*f16=*/false, layout));
  STRATA_RETURN_IF_ERROR(CheckTensor(src, src.scales, "scales", {groups, out}, /*f16=*/true, layout));
  if (awq && src.g_idx != nullptr) {
    return DataLoss("tensor '" + src.module + ".g_idx' is in an AWQ checkpoint, which has " +
                    "none" + kFix);
  }

  U4Tensor t;
  t.rows = out;
  t.cols = in;
  t.group_size = group_size;
  STRATA_ASSIGN_OR_RETURN(t.col_perm, HfActOrderPermutation(src, q));
  t.scales.resize(static_cast<size_t>(out * groups));
  t.zeros.resize(t.scales.size());
  STRATA_RETURN_IF_ERROR(ConvertScalesAndZeros(src, q, awq, groups, t));

  t.codes.assign(static_cast<size_t>(out * in / 2), 0);
  std::vector<uint8_t> block(static_cast<size_t>(std::min(kBlockRows, out) * in));  // (rows, in)
  for (int64_t o0 = 0; o0 < out; o0 += kBlockRows) {
    const int64_t rows = std::min(kBlockRows, out - o0);
    UnpackBlock(src, awq, o0, rows, block.data());
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* codes = block.data() + r * in;
      uint8_t* dst = t.codes.data() + (o0 + r) * (in / 2);
      for (int64_t j = 0; j < in; ++j) {
        const uint8_t code = codes[t.col_perm.empty() ? j : t.col_perm[static_cast<size_t>(j)]];
        dst[j / 2] |= static_cast<uint8_t>(code << (j % 2 == 0 ? 0 : 4));
      }
    }
  }
  return t;
}

}  // namespace strata
