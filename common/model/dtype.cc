// DType sizes and names, and exact bit-level conversions between float and bf16, f16 and
// fp8 e4m3fn, all rounding to nearest even. Thread-safety: pure functions.
#include "common/model/dtype.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/util/check.h"

namespace strata {
namespace {

constexpr uint32_t kF32AbsMask = 0x7fffffffu;
constexpr uint32_t kF32Inf = 0x7f800000u;

// Rounds `mantissa` (an integer) right by `shift` bits (1..31), to nearest, ties to even.
constexpr uint32_t ShiftRightRne(uint32_t mantissa, int shift) {
  uint32_t q = mantissa >> shift;
  uint32_t rem = mantissa & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1u) != 0)) ? 1u : 0u);
}

float DecodeF8E4M3(uint8_t bits) {
  const bool negative = (bits & 0x80) != 0;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m * 2^-9
  } else {
    magnitude = std::ldexp(static_cast<float>(8 + mantissa), exponent - 7 - 3);
  }
  return negative ? -magnitude : magnitude;
}

const std::array<float, 256>& F8E4M3Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[static_cast<size_t>(i)] = DecodeF8E4M3(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

}  // namespace

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kF8E4M3: return 1;
    case DType::kU4: break;
  }
  STRATA_CHECK_MSG(false, "DTypeSize of a sub-byte dtype: use DTypeBytes");
  return 0;
}

size_t DTypeBytes(DType dtype, int64_t count) {
  const auto n = static_cast<size_t>(count);
  return dtype == DType::kU4 ? (n + 1) / 2 : n * DTypeSize(dtype);
}

std::string_view DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kF8E4M3: return "F8_E4M3";
    case DType::kU4: return "U4";
  }
  return "?";
}

std::optional<DType> ParseDType(std::string_view name) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kU4}) {
    if (name == DTypeName(d)) return d;
  }
  return std::nullopt;
}

float BF16ToFloat(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t FloatToBF16(float value) {
  uint32_t x = std::bit_cast<uint32_t>(value);
  if ((x & kF32AbsMask) > kF32Inf) return static_cast<uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

float F16ToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | kF32Inf | (mantissa << 13));
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // exact
    return sign != 0 ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t FloatToF16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t x = bits & kF32AbsMask;
  if (x > kF32Inf) return sign | 0x7e00u | static_cast<uint16_t>((x >> 13) & 0x3ffu);  // quiet NaN
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 (the tie above 65504) and inf
  if (x < 0x38800000u) {                        // below 2^-14: f16 subnormal or zero
    const int exponent = static_cast<int>(x >> 23);
    if (exponent < 102) return sign;  // below 2^-25 (half the smallest subnormal)
    const uint32_t mantissa = (x & 0x7fffffu) | 0x800000u;
    return sign | static_cast<uint16_t>(ShiftRightRne(mantissa, 126 - exponent));
  }
  x -= (127u - 15u) << 23;  // rebias; the carry of the rounding below may bump the exponent
  x += 0xfffu + ((x >> 13) & 1u);
  return sign | static_cast<uint16_t>(x >> 13);
}

float F8E4M3ToFloat(uint8_t bits) { return F8E4M3Table()[bits]; }

uint8_t FloatToF8E4M3(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  uint32_t x = bits & kF32AbsMask;
  if (x > kF32Inf) return 0x7f;
  if (x >= 0x43e00000u) return sign | 0x7eu;  // >= 448 (and inf) saturates to 448
  if (x < 0x3c800000u) {                      // below 2^-6: e4m3 subnormal or zero
    const int exponent = static_cast<int>(x >> 23);
    if (exponent < 117) return sign;  // below 2^-10 (half the smallest subnormal)
    const uint32_t mantissa = (x & 0x7fffffu) | 0x800000u;
    return sign | static_cast<uint8_t>(ShiftRightRne(mantissa, 141 - exponent));
  }
  x -= (127u - 7u) << 23;
  x += 0x7ffffu + ((x >> 20) & 1u);
  return sign | static_cast<uint8_t>(x >> 20);
}

void ConvertToFloat(const void* src, DType src_dtype, float* dst, size_t n) {
  const auto* in = static_cast<const unsigned char*>(src);
  switch (src_dtype) {
    case DType::kF32: std::memcpy(dst, in, n * sizeof(float)); return;
    case DType::kBF16: {
      // Fixed-size blocks so that -O2 vectorizes the widening shift.
      constexpr size_t kBlock = 16;
      size_t i = 0;
      for (; i + kBlock <= n; i += kBlock) {
        uint16_t h[kBlock];
        uint32_t f[kBlock];
        std::memcpy(h, in + 2 * i, sizeof(h));
        for (size_t k = 0; k < kBlock; ++k) f[k] = static_cast<uint32_t>(h[k]) << 16;
        std::memcpy(dst + i, f, sizeof(f));
      }
      for (; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, sizeof(h));
        dst[i] = BF16ToFloat(h);
      }
      return;
    }
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, sizeof(h));
        dst[i] = F16ToFloat(h);
      }
      return;
    case DType::kF8E4M3: {
      const std::array<float, 256>& table = F8E4M3Table();
      for (size_t i = 0; i < n; ++i) dst[i] = table[in[i]];
      return;
    }
    case DType::kU4:
      STRATA_CHECK(n % 2 == 0);
      for (size_t i = 0; i < n / 2; ++i) {
        dst[2 * i] = static_cast<float>(in[i] & 0xf);
        dst[2 * i + 1] = static_cast<float>(in[i] >> 4);
      }
      return;
  }
}

}  // namespace strata
