// Tests for dtype.h: names and sizes, known conversions, round-to-nearest-even ties,
// subnormals, NaN/inf and fp8 saturation, exhaustive bit-pattern round trips, a search-based
// reference rounding for random floats, and unaligned bulk conversion.
#include "common/model/dtype.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

namespace strata {
namespace {

float Bits(uint32_t bits) { return std::bit_cast<float>(bits); }

// Round-to-nearest-even by search over an ascending code space: codes 0..max_code decode
// (via `value`) to ascending non-negative values; at or above `overflow_value` (which acts as
// the value of `overflow_code` for rounding) the result is `overflow_code`. x >= 0.
uint32_t ReferenceRound(double x, uint32_t max_code, const std::function<double(uint32_t)>& value,
                        double overflow_value, uint32_t overflow_code) {
  if (x >= overflow_value) return overflow_code;
  uint32_t lo = 0, hi = max_code;  // largest code with value <= x
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    if (value(mid) <= x) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  if (value(lo) == x) return lo;
  const uint32_t up_code = lo == max_code ? overflow_code : lo + 1;
  const double up_value = lo == max_code ? overflow_value : value(lo + 1);
  const double d_lo = x - value(lo), d_up = up_value - x;
  if (d_lo < d_up) return lo;
  if (d_up < d_lo) return up_code;
  return lo % 2 == 0 ? lo : up_code;
}

// F16 decoded by its definition, independently of F16ToFloat.
double F16Reference(uint32_t bits) {
  const int e = static_cast<int>((bits >> 10) & 0x1f);
  const int m = static_cast<int>(bits & 0x3ff);
  double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  if (e == 31) v = std::numeric_limits<double>::infinity();
  return (bits & 0x8000) != 0 ? -v : v;
}

double F8Reference(uint32_t bits) {
  const int e = static_cast<int>((bits >> 3) & 0xf);
  const int m = static_cast<int>(bits & 0x7);
  double v = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
  return (bits & 0x80) != 0 ? -v : v;
}

TEST(DTypeTest, SizesNamesAndParsing) {
  EXPECT_EQ(DTypeSize(DType::kF32), 4u);
  EXPECT_EQ(DTypeSize(DType::kF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeSize(DType::kF8E4M3), 1u);
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3}) {
    EXPECT_EQ(ParseDType(DTypeName(d)), d) << DTypeName(d);
  }
  EXPECT_EQ(DTypeName(DType::kF8E4M3), "F8_E4M3");
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  for (const char* unsupported : {"I64", "F64", "BOOL", "U8", "F8_E5M2", "bf16", ""}) {
    EXPECT_FALSE(ParseDType(unsupported).has_value()) << unsupported;
  }
}

TEST(DTypeTest, BF16KnownValuesAndTies) {
  EXPECT_EQ(FloatToBF16(1.0f), 0x3F80);
  EXPECT_EQ(FloatToBF16(-2.0f), 0xC000);
  EXPECT_EQ(FloatToBF16(0.0f), 0x0000);
  EXPECT_EQ(FloatToBF16(-0.0f), 0x8000);
  EXPECT_EQ(BF16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BF16ToFloat(0xC040), -3.0f);
  EXPECT_EQ(FloatToBF16(Bits(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(FloatToBF16(Bits(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(FloatToBF16(Bits(0x3F808001)), 0x3F81);  // above the tie
  EXPECT_EQ(FloatToBF16(Bits(0x3F807FFF)), 0x3F80);  // below the tie
  EXPECT_EQ(FloatToBF16(Bits(0x7F7FFFFF)), 0x7F80);  // FLT_MAX rounds to inf
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(FloatToBF16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(FloatToBF16(Bits(0x00000001)), 0x0000);  // float subnormals round like the rest
  EXPECT_EQ(FloatToBF16(Bits(0x00018000)), 0x0002);
}

TEST(DTypeTest, BF16NaNStaysQuietNaN) {
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::quiet_NaN()), 0x7FC0);
  // A NaN whose payload is only in the low bits must not truncate to infinity.
  for (uint32_t nan : {0x7F800001u, 0xFF800001u, 0x7FBFFFFFu, 0x7FFFFFFFu}) {
    const uint16_t b = FloatToBF16(Bits(nan));
    EXPECT_TRUE(std::isnan(BF16ToFloat(b))) << std::hex << nan;
    EXPECT_NE(b & 0x0040, 0) << "quiet bit for " << std::hex << nan;
    EXPECT_EQ(b & 0x8000, (nan >> 16) & 0x8000) << "sign for " << std::hex << nan;
  }
}

TEST(DTypeTest, BF16AllPatternsRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = BF16ToFloat(static_cast<uint16_t>(b));
    EXPECT_EQ(std::bit_cast<uint32_t>(f), b << 16);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBF16(f), b) << std::hex << b;
  }
}

TEST(DTypeTest, F16KnownValuesTiesAndSubnormals) {
  EXPECT_EQ(FloatToF16(1.0f), 0x3C00);
  EXPECT_EQ(FloatToF16(-2.0f), 0xC000);
  EXPECT_EQ(FloatToF16(-0.0f), 0x8000);
  EXPECT_EQ(FloatToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65519.0f), 0x7BFF);
  EXPECT_EQ(FloatToF16(65520.0f), 0x7C00);  // tie above the max rounds to inf (even)
  EXPECT_EQ(FloatToF16(1e10f), 0x7C00);
  EXPECT_EQ(FloatToF16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(FloatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie, even stays
  EXPECT_EQ(FloatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie, odd rounds up
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -14)), 0x0400);             // smallest normal
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -24)), 0x0001);             // smallest subnormal
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -25)), 0x0000);             // tie with zero: even
  EXPECT_EQ(FloatToF16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(FloatToF16(3 * std::ldexp(1.0f, -25)), 0x0002);  // tie between 1 and 2
  EXPECT_EQ(FloatToF16(std::ldexp(1023.5f, -24)), 0x0400);   // tie rounds up into the normals
  EXPECT_EQ(F16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(F16ToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16ToFloat(0x8000), -0.0f);
  EXPECT_TRUE(std::signbit(F16ToFloat(0x8000)));
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(F16ToFloat(0xFC01)));
  const uint16_t nan = FloatToF16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x0200, 0);  // quiet
  EXPECT_TRUE(std::isnan(F16ToFloat(FloatToF16(Bits(0x7F800001)))));
}

TEST(DTypeTest, F16AllPatternsRoundTripAndMatchDefinition) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = F16ToFloat(static_cast<uint16_t>(b));
    if ((b & 0x7C00) == 0x7C00 && (b & 0x3FF) != 0) {
      EXPECT_TRUE(std::isnan(f)) << std::hex << b;
      continue;
    }
    ASSERT_EQ(static_cast<double>(f), F16Reference(b)) << std::hex << b;
    ASSERT_EQ(FloatToF16(f), b) << std::hex << b;
  }
}

TEST(DTypeTest, F8E4M3KnownValuesAndSaturation) {
  EXPECT_EQ(FloatToF8E4M3(1.0f), 0x38);
  EXPECT_EQ(FloatToF8E4M3(-1.0f), 0xB8);
  EXPECT_EQ(FloatToF8E4M3(448.0f), 0x7E);
  EXPECT_EQ(FloatToF8E4M3(464.0f), 0x7E);  // would be the tie with the NaN code
  EXPECT_EQ(FloatToF8E4M3(500.0f), 0x7E);
  EXPECT_EQ(FloatToF8E4M3(-1e30f), 0xFE);
  EXPECT_EQ(FloatToF8E4M3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(FloatToF8E4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(FloatToF8E4M3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(FloatToF8E4M3(-std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(FloatToF8E4M3(1.0625f), 0x38);                // tie between 1 and 1.125: even
  EXPECT_EQ(FloatToF8E4M3(1.1875f), 0x3A);                // tie between 1.125 and 1.25: even (up)
  EXPECT_EQ(FloatToF8E4M3(std::ldexp(1.0f, -6)), 0x08);   // smallest normal
  EXPECT_EQ(FloatToF8E4M3(std::ldexp(1.0f, -9)), 0x01);   // smallest subnormal
  EXPECT_EQ(FloatToF8E4M3(std::ldexp(1.0f, -10)), 0x00);  // tie with zero: even
  EXPECT_EQ(FloatToF8E4M3(3 * std::ldexp(1.0f, -10)), 0x02);
  EXPECT_EQ(FloatToF8E4M3(-0.0f), 0x80);
  EXPECT_EQ(F8E4M3ToFloat(0x7E), 448.0f);
  EXPECT_EQ(F8E4M3ToFloat(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(F8E4M3ToFloat(0x78), 256.0f);  // exponent 15 is finite in e4m3fn
  EXPECT_TRUE(std::isnan(F8E4M3ToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(F8E4M3ToFloat(0xFF)));
}

TEST(DTypeTest, F8E4M3AllPatterns) {
  for (uint32_t b = 0; b < 256; ++b) {
    const float f = F8E4M3ToFloat(static_cast<uint8_t>(b));
    if ((b & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_EQ(FloatToF8E4M3(f), 0x7F);
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), F8Reference(b)) << std::hex << b;
    EXPECT_EQ(FloatToF8E4M3(f), b) << std::hex << b;
  }
}

TEST(DTypeTest, RandomFloatsRoundLikeReference) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> any;
  auto bf16_value = [](uint32_t c) {
    return static_cast<double>(BF16ToFloat(static_cast<uint16_t>(c)));
  };
  auto f16_value = [](uint32_t c) { return F16Reference(c); };
  auto f8_value = [](uint32_t c) { return F8Reference(c); };
  for (int i = 0; i < 100000; ++i) {
    // Half fully random bits, half concentrated on the f16/fp8 exponent range [2^-27, 2^17).
    uint32_t bits = any(rng);
    if (i % 2 == 1) bits = (bits & 0x807FFFFFu) | ((100 + any(rng) % 44) << 23);
    const float f = Bits(bits);
    if (std::isnan(f)) continue;
    const double x = std::fabs(static_cast<double>(f));
    const uint32_t sign16 = (bits >> 16) & 0x8000, sign8 = (bits >> 24) & 0x80;
    ASSERT_EQ(FloatToBF16(f),
              sign16 | ReferenceRound(x, 0x7F7F, bf16_value, std::ldexp(1.0, 128), 0x7F80))
        << std::hex << bits;
    ASSERT_EQ(FloatToF16(f), sign16 | ReferenceRound(x, 0x7BFF, f16_value, 65536.0, 0x7C00))
        << std::hex << bits;
    ASSERT_EQ(FloatToF8E4M3(f), sign8 | ReferenceRound(x, 0x7E, f8_value, 480.0, 0x7E))
        << std::hex << bits;
  }
}

TEST(DTypeTest, ConvertToFloatHandlesUnalignedSourceAndTails) {
  std::mt19937 rng(7);
  std::vector<unsigned char> buffer(1 + 4 * 37);
  for (unsigned char& c : buffer) c = static_cast<unsigned char>(rng());
  const unsigned char* src = buffer.data() + 1;  // deliberately misaligned
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{16}, size_t{37}}) {
      std::vector<float> out(n + 1, 12345.0f);
      ConvertToFloat(src, dtype, out.data(), n);
      for (size_t i = 0; i < n; ++i) {
        float expected = 0;
        const unsigned char* p = src + i * DTypeSize(dtype);
        const uint16_t u16 = static_cast<uint16_t>(p[0] | (p[1] << 8));
        switch (dtype) {
          case DType::kF32: std::memcpy(&expected, p, 4); break;
          case DType::kF16: expected = F16ToFloat(u16); break;
          case DType::kBF16: expected = BF16ToFloat(u16); break;
          case DType::kF8E4M3: expected = F8E4M3ToFloat(p[0]); break;
          case DType::kU4: ADD_FAILURE() << "not in this loop"; break;
        }
        EXPECT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(expected))
            << DTypeName(dtype) << " n=" << n << " i=" << i;
      }
      EXPECT_EQ(out[n], 12345.0f) << "wrote past n for " << DTypeName(dtype);
    }
  }
}

TEST(DTypeTest, U4IsTwoCodesABytePackedLowNibbleFirst) {
  EXPECT_EQ(DTypeBytes(DType::kU4, 8192), 4096u);
  EXPECT_EQ(DTypeBytes(DType::kU4, 3), 2u);
  EXPECT_EQ(DTypeBytes(DType::kBF16, 3), 6u);
  EXPECT_EQ(DTypeName(DType::kU4), "U4");
  const unsigned char bytes[] = {0x21, 0xf0};
  float out[4];
  ConvertToFloat(bytes, DType::kU4, out, 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 2.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 15.0f);
}

}  // namespace
}  // namespace strata
