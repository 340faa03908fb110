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
};

size_t DTypeSize(DType dtype);
// The safetensors spelling: "F32", "F16", "BF16", "F8_E4M3".
std::string_view DTypeName(DType dtype);
// Parses a safetensors dtype string; nullopt for types Strata does not load (I64, F64, ...).
std::optional<DType> ParseDType(std::string_view name);

float BF16ToFloat(uint16_t bits);
uint16_t FloatToBF16(float value);
float F16ToFloat(uint16_t bits);
uint16_t FloatToF16(float value);
float F8E4M3ToFloat(uint8_t bits);
uint8_t FloatToF8E4M3(float value);  // saturates to +-448

// dst[i] = float(src[i]) for n elements of `src_dtype`. `src` needs no alignment.
void ConvertToFloat(const void* src, DType src_dtype, float* dst, size_t n);

}  // namespace strata
