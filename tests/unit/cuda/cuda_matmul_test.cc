// CudaBackend::MatMul against the CPU reference on Llama 3.1 70B widths (K = 8192 and
// 28672) for every weight dtype: decode rows (the GEMV kernels), prefill rows (cuBLASLt),
// shapes the fast paths cannot take (the generic GEMV) and a misaligned weight (cuBLASLt's
// fallback), and MatMulShared's grouped GEMV (q, k, v in one grid) and its fallbacks. Needs a
// GPU: labelled `gpu`.
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
  const DeviceBuffer shifted = UploadShifted(gpu, weight->bytes, c.weight_offset, &dev_view);
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

// Several weights sharing x, each out checked against the CPU's MatMul. `ns`: rows of each.
void RunSharedCase(Backend& gpu, DType dtype, int64_t rows, int64_t k,
                   const std::vector<int64_t>& ns, uint32_t seed) {
  const std::string name = std::string(DTypeName(dtype)) + " rows=" + std::to_string(rows) +
                           " k=" + std::to_string(k) + " targets=" + std::to_string(ns.size());
  SCOPED_TRACE(name);
  CpuBackend cpu;
  MirroredF32 x(gpu, RandomFloats(static_cast<size_t>(rows * k), seed), rows, k);
  std::vector<std::unique_ptr<MirroredWeight>> weights;
  std::vector<std::unique_ptr<MirroredF32>> outs;
  std::vector<MatMulTarget> targets;
  for (int64_t n : ns) {
    const std::vector<float> w = RandomFloats(static_cast<size_t>(n * k), ++seed, 0.02f);
    weights.push_back(MakeWeight(gpu, w, n, k, dtype));
    outs.push_back(std::make_unique<MirroredF32>(
        gpu, std::vector<float>(static_cast<size_t>(rows * n), -1.0f), rows, n));
    targets.push_back({&weights.back()->dev_view, outs.back()->gpu()});
  }
  gpu.MatMulShared(x.gpu(), targets);
  const double tol = dtype == DType::kF8E4M3 ? kFp8Tol : kBf16Tol;
  for (size_t i = 0; i < ns.size(); ++i) {
    std::vector<float> want(static_cast<size_t>(rows * ns[i]));
    cpu.MatMul(x.cpu(), weights[i]->host_view, F32Tensor(want.data(), rows, ns[i]));
    ExpectClose(Download(gpu, outs[i]->gpu()), want, ns[i], tol,
                name + " target " + std::to_string(i));
  }
}

TEST(CudaMatMul, SharedInputGroupsMatchCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  uint32_t seed = 90;
  for (DType dtype : {DType::kBF16, DType::kF8E4M3}) {
    for (int64_t rows : {1, 5, 16}) {
      RunSharedCase(*gpu, dtype, rows, 8192, {512, 128, 128}, seed += 10);  // q, k, v: grouped
      RunSharedCase(*gpu, dtype, rows, 2048, {1024, 1000}, seed += 10);     // last tile partial
    }
    RunSharedCase(*gpu, dtype, 3, 28672, {256, 64}, seed += 10);   // long K: split
    RunSharedCase(*gpu, dtype, 2, 2048, {1000, 64}, seed += 10);   // not whole tiles: one each
    RunSharedCase(*gpu, dtype, 40, 8192, {512, 128}, seed += 10);  // prefill rows: cuBLASLt
  }
}

}  // namespace
}  // namespace strata::testing
