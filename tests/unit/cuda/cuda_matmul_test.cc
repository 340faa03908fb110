// CudaBackend::MatMul against the CPU reference on Llama 3.1 70B widths (K = 8192 and
// 28672) for every weight dtype: decode rows (the GEMV kernels), prefill rows (cuBLASLt),
// shapes the fast paths cannot take (the generic GEMV) and a misaligned weight (cuBLASLt's
// fallback). Needs a GPU: labelled `gpu`.
#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

struct MatMulCase {
  DType dtype;
  int64_t rows, n, k;
  double tolerance;
  size_t weight_offset = 0;  // bytes the weight is shifted from its allocation's start
};

std::string Name(const MatMulCase& c) {
  return std::string(DTypeName(c.dtype)) + " x(" + std::to_string(c.rows) + ", " +
         std::to_string(c.k) + ") w(" + std::to_string(c.n) + ", " + std::to_string(c.k) + ")" +
         (c.weight_offset != 0 ? " weight misaligned by " + std::to_string(c.weight_offset) : "");
}

void RunCase(Backend& gpu, const MatMulCase& c, uint32_t seed) {
  SCOPED_TRACE(Name(c));
  CpuBackend cpu;
  const std::vector<float> w = RandomFloats(static_cast<size_t>(c.n * c.k), seed, 0.02f);
  auto weight = MakeWeight(gpu, w, c.n, c.k, c.dtype);
  WeightView dev_view = weight->dev_view;
  DeviceBuffer shifted;  // the weight again, c.weight_offset bytes into a buffer
  if (c.weight_offset != 0) {
    std::vector<std::byte> padded(c.weight_offset + weight->bytes.size());
    std::copy(weight->bytes.begin(), weight->bytes.end(), padded.begin() + c.weight_offset);
    shifted = Upload(gpu, padded.data(), padded.size());
    dev_view.data = shifted.get() + c.weight_offset;
  }
  MirroredF32 x(gpu, RandomFloats(static_cast<size_t>(c.rows * c.k), seed + 1), c.rows, c.k);
  MirroredF32 out(gpu, std::vector<float>(static_cast<size_t>(c.rows * c.n)), c.rows, c.n);
  cpu.MatMul(x.cpu(), weight->host_view, out.cpu());
  gpu.MatMul(x.gpu(), dev_view, out.gpu());
  ExpectClose(Download(gpu, out.gpu()), out.host, c.n, c.tolerance, "MatMul " + Name(c));
}

constexpr double kBf16Tol = 1e-2, kFp8Tol = 6e-2, kF16Tol = 1e-2, kF32Tol = 1e-5;

TEST(CudaMatMul, Bf16DecodeRows) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const MatMulCase cases[] = {
      {DType::kBF16, 1, 1024, 8192, kBf16Tol}, {DType::kBF16, 4, 1024, 8192, kBf16Tol},
      {DType::kBF16, 8, 8192, 8192, kBf16Tol}, {DType::kBF16, 16, 1000, 8192, kBf16Tol},
      {DType::kBF16, 9, 512, 28672, kBf16Tol}, {DType::kBF16, 1, 28672, 8192, kBf16Tol},
  };
  uint32_t seed = 10;
  for (const MatMulCase& c : cases) RunCase(*gpu, c, seed += 2);
}

TEST(CudaMatMul, Fp8DecodeRows) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const MatMulCase cases[] = {
      {DType::kF8E4M3, 1, 1024, 8192, kFp8Tol},  {DType::kF8E4M3, 4, 1024, 8192, kFp8Tol},
      {DType::kF8E4M3, 13, 512, 28672, kFp8Tol}, {DType::kF8E4M3, 16, 1000, 8192, kFp8Tol},
      {DType::kF8E4M3, 1, 8192, 28672, kFp8Tol},
  };
  uint32_t seed = 30;
  for (const MatMulCase& c : cases) RunCase(*gpu, c, seed += 2);
}

TEST(CudaMatMul, PrefillRowsOnCublasLt) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const MatMulCase cases[] = {
      {DType::kBF16, 203, 1024, 8192, kBf16Tol}, {DType::kBF16, 40, 512, 28672, kBf16Tol},
      {DType::kBF16, 17, 1024, 8192, kBf16Tol},  {DType::kF8E4M3, 203, 1024, 8192, kFp8Tol},
      {DType::kF8E4M3, 40, 512, 28672, kFp8Tol}, {DType::kF16, 40, 256, 8192, kF16Tol},
      {DType::kF32, 40, 256, 2048, kF32Tol},
  };
  uint32_t seed = 50;
  for (const MatMulCase& c : cases) RunCase(*gpu, c, seed += 2);
}

TEST(CudaMatMul, GenericShapesAndDtypes) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const MatMulCase cases[] = {
      {DType::kF16, 3, 256, 8192, kF16Tol},      // generic GEMV
      {DType::kF32, 2, 256, 2048, kF32Tol},      // generic GEMV
      {DType::kBF16, 5, 33, 200, kBf16Tol},      // K not a multiple of 32
      {DType::kF8E4M3, 3, 40, 96, kFp8Tol},      // K not a multiple of 64
      {DType::kBF16, 100, 33, 200, kBf16Tol},    // cuBLASLt with odd N
      {DType::kBF16, 3, 64, 256, kBf16Tol, 2},   // misaligned: generic GEMV
      {DType::kBF16, 20, 64, 256, kBf16Tol, 2},  // misaligned: cuBLASLt or its GEMV fallback
      {DType::kBF16, 1, 128256, 64, kBf16Tol},   // the tiny model's LM head
  };
  uint32_t seed = 70;
  for (const MatMulCase& c : cases) RunCase(*gpu, c, seed += 2);
}

}  // namespace
}  // namespace strata::testing
