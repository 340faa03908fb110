// BF16, per-row-scaled F8_E4M3 and group-scaled U4 encoding of checkpoint tensors (see
// tensor_encode.h).
#include "common/storage/tensor_encode.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/model/int4_weights.h"

namespace strata {
namespace {

constexpr size_t kChunkElements = size_t{1} << 18;  // 1 MiB of float scratch
constexpr float kF8E4M3Max = 448.0f;

Status CheckSource(const WeightView& src, const std::string& name) {
  if (src.dtype == DType::kF8E4M3) {
    return Unimplemented("tensor " + name + " is already F8_E4M3; packing from fp8 checkpoints " +
                         "is not supported — pack the bf16 checkpoint instead");
  }
  if (src.dtype == DType::kU4) {
    return Unimplemented("tensor " + name + " is int4 (an AWQ/GPTQ checkpoint's); it packs " +
                         "only as int4 — pass --dtype int4 or no --dtype");
  }
  return OkStatus();
}

// A U4 source's codes, scales and zero points, unchanged.
Status AppendU4AsIs(const WeightView& src, const std::string& name, int64_t group_size,
                    PackDataWriter& out, std::vector<uint16_t>* scales,
                    std::vector<uint16_t>* zeros) {
  if (src.group_size != group_size) {
    return InvalidArgument("tensor " + name + " has int4 groups of " +
                           std::to_string(src.group_size) + " columns, but the pack's are " +
                           std::to_string(group_size) + "; pack a checkpoint with its own " +
                           "group size");
  }
  const size_t n = static_cast<size_t>(src.rows * src.groups_per_row());
  scales->assign(src.group_scales, src.group_scales + n);
  zeros->assign(src.group_zeros, src.group_zeros + n);
  return out.Append(src.data, src.nbytes());
}

}  // namespace

Status AppendAsBF16(const WeightView& src, const std::string& name, PackDataWriter& out) {
  STRATA_RETURN_IF_ERROR(CheckSource(src, name));
  if (src.dtype == DType::kBF16) return out.Append(src.data, src.nbytes());
  const size_t n = static_cast<size_t>(src.numel());
  const size_t in_size = DTypeSize(src.dtype);
  std::vector<float> f(std::min(n, kChunkElements));  // (chunk) widened source values
  std::vector<uint16_t> h(f.size());                  // (chunk) their BF16 bits
  for (size_t begin = 0; begin < n; begin += f.size()) {
    const size_t count = std::min(f.size(), n - begin);
    ConvertToFloat(src.data + begin * in_size, src.dtype, f.data(), count);
    for (size_t i = 0; i < count; ++i) h[i] = FloatToBF16(f[i]);
    STRATA_RETURN_IF_ERROR(out.Append(h.data(), count * sizeof(uint16_t)));
  }
  return OkStatus();
}

Status AppendAsF8E4M3(const WeightView& src, const std::string& name, PackDataWriter& out,
                      std::vector<float>* scales) {
  STRATA_RETURN_IF_ERROR(CheckSource(src, name));
  const size_t cols = static_cast<size_t>(src.cols);
  const size_t row_bytes = cols * DTypeSize(src.dtype);
  std::vector<float> row(cols);  // (cols) one source row, widened
  std::vector<uint8_t> q(cols);  // (cols) its F8_E4M3 codes
  scales->assign(static_cast<size_t>(src.rows), 1.0f);
  for (int64_t r = 0; r < src.rows; ++r) {
    ConvertToFloat(src.data + static_cast<size_t>(r) * row_bytes, src.dtype, row.data(), cols);
    float max_abs = 0.0f;
    for (size_t c = 0; c < cols; ++c) {
      if (!std::isfinite(row[c])) {
        return InvalidArgument("tensor " + name + " has a non-finite value at row " +
                               std::to_string(r) + ", column " + std::to_string(c) +
                               "; it cannot be quantized to fp8 — pack with --dtype bf16");
      }
      max_abs = std::max(max_abs, std::fabs(row[c]));
    }
    float scale = max_abs / kF8E4M3Max;
    if (scale == 0.0f) scale = 1.0f;  // a zero row (or one too small to scale)
    (*scales)[static_cast<size_t>(r)] = scale;
    for (size_t c = 0; c < cols; ++c) q[c] = FloatToF8E4M3(row[c] / scale);
    STRATA_RETURN_IF_ERROR(out.Append(q.data(), cols));
  }
  return OkStatus();
}

Status AppendAsU4(const WeightView& src, const std::string& name, int64_t group_size,
                  PackDataWriter& out, std::vector<uint16_t>* scales, std::vector<uint16_t>* zeros) {
  STRATA_RETURN_IF_ERROR(CheckInt4GroupSize(group_size, src.cols, "tensor " + name));
  if (src.dtype == DType::kU4) return AppendU4AsIs(src, name, group_size, out, scales, zeros);
  STRATA_RETURN_IF_ERROR(CheckSource(src, name));
  const auto cols = static_cast<size_t>(src.cols);
  const size_t row_bytes = DTypeBytes(src.dtype, src.cols);
  const auto groups = static_cast<size_t>(src.cols / group_size);
  std::vector<float> row(cols);        // (cols) one source row, widened
  std::vector<uint8_t> q(cols / 2);    // (cols / 2) its codes, two a byte
  scales->resize(static_cast<size_t>(src.rows) * groups);
  zeros->resize(scales->size());
  for (int64_t r = 0; r < src.rows; ++r) {
    ConvertToFloat(src.data + static_cast<size_t>(r) * row_bytes, src.dtype, row.data(), cols);
    const size_t g = static_cast<size_t>(r) * groups;
    if (const std::optional<int64_t> bad = QuantizeRowU4(row.data(), src.cols, group_size, q.data(),
                                                         scales->data() + g, zeros->data() + g)) {
      return InvalidArgument("tensor " + name + " has a non-finite value at row " +
                             std::to_string(r) + ", column " + std::to_string(*bad) +
                             "; it cannot be quantized to int4 — pack with --dtype bf16");
    }
    STRATA_RETURN_IF_ERROR(out.Append(q.data(), q.size()));
  }
  return OkStatus();
}

}  // namespace strata
