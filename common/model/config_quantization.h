// HfQuantization: the `quantization_config` of a Hugging Face config.json, parsed and
// validated for the 4-bit checkpoints Strata loads directly (hf_int4_layout.h has their
// tensor layouts): AWQ (AutoAWQ's "gemm" version, zero points) and GPTQ (4 bits, with or
// without act-order, symmetric or not, zero points stored minus one ("gptq", AutoGPTQ's
// classic format) or as they are ("gptq_v2")). Every other method, bit width or layout is
// refused with a message that names what is supported.
// Thread-safety: pure functions over plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/model/config.h"
#include "common/util/status.h"

namespace strata {

// A group_size of -1 in config.json: one group spans a projection's whole input dimension.
inline constexpr int64_t kHfGroupPerRow = -1;
// The only bit width Strata loads.
inline constexpr int64_t kHfQuantBits = 4;

struct HfQuantization {
  enum class Method { kNone, kAwq, kGptq };
  Method method = Method::kNone;
  int64_t group_size = 0;  // input columns per scale and zero point, or kHfGroupPerRow
  bool desc_act = false;   // GPTQ act-order: g_idx assigns input columns to groups freely
  bool sym = false;        // GPTQ symmetric: every zero point is 8 (checked at conversion)
  // Added to a stored zero point to get the real one: 1 for GPTQ "gptq" (stored minus one),
  // 0 for "gptq_v2" and AWQ.
  int zero_offset = 0;

  bool quantized() const { return method != Method::kNone; }
  // Input columns per group of a projection with `cols` input columns.
  int64_t GroupSizeFor(int64_t cols) const {
    return group_size == kHfGroupPerRow ? cols : group_size;
  }
};

// "awq", "gptq", or "none".
std::string_view HfQuantMethodName(HfQuantization::Method method);
// A one-line description for messages: "GPTQ 4-bit, group 128, act-order, gptq_v2 zeros".
std::string DescribeHfQuantization(const HfQuantization& q);

// Parses config.json text's `quantization_config` (absent or null: Method::kNone), checking
// the group size against `config`'s projections. Errors name `source` and the field:
// kUnimplemented for what Strata does not load (another quant_method, bits other than 4, AWQ
// versions other than gemm or without zero points, GPTQ marlin/bitblas/other formats, pack
// dtypes other than int32, a quantised lm_head, per-module `dynamic` overrides, modules left
// unquantised that are projections); kInvalidArgument for malformed values (a group size
// that is not -1 or a positive even divisor of every projection's input size, a field of the
// wrong type).
StatusOr<HfQuantization> ParseHfQuantization(std::string_view json_text, const std::string& source,
                                             const ModelConfig& config);

}  // namespace strata
