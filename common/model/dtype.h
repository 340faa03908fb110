// Element types of weights and activations, their sizes and names, and scalar/bulk
// conversions to and from float. Conversions round to nearest even, as PyTorch does.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace strata {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // OCP fp8 e4m3fn: no infinities, max 448, NaN = S.1111.111
  // Unsigned 4-bit codes 0..15, two per byte along a row: an even column in the low nibble.
  // Only in int4 packs' weights, which carry group scales and zero points (int4_weights.h).
  kU4,
};

// Bytes per element of the whole-byte types; kU4 (half a byte) is a checked error: use
// DTypeBytes.
size_t DTypeSize(DType dtype);
// Bytes `count` elements take: count * DTypeSize, or (count + 1) / 2 for kU4.
size_t DTypeBytes(DType dtype, int64_t count);
// The safetensors spelling: "F32", "F16", "BF16", "F8_E4M3"; "U4" (a pack's only).
std::string_view DTypeName(DType dtype);
// Parses a dtype name; nullopt for types Strata does not load (I64, F64, ...). "U4" parses:
// callers reading checkpoints refuse it.
std::optional<DType> ParseDType(std::string_view name);

float BF16ToFloat(uint16_t bits);
uint16_t FloatToBF16(float value);
float F16ToFloat(uint16_t bits);
uint16_t FloatToF16(float value);
float F8E4M3ToFloat(uint8_t bits);
uint8_t FloatToF8E4M3(float value);  // saturates to +-448

// dst[i] = float(src[i]) for n elements of `src_dtype`. `src` needs no alignment. kU4 gives
// the codes (0..15), no scale applied; n must then be even.
void ConvertToFloat(const void* src, DType src_dtype, float* dst, size_t n);

}  // namespace strata
