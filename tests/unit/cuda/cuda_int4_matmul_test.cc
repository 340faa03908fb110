// CudaBackend::MatMul and MatMulShared over int4 (kU4) weights against the CPU backend's exact
// dequantisation: decode rows (the tensor-core GEMV, both ways of applying the group scales),
// 17 and more rows (weights dequantised to bf16 blocks, cuBLASLt), act-order weights
// (col_perm), and the shapes the fast paths refuse (the generic GEMV, the byte-wise
// dequantisation). Needs a GPU: labelled `gpu`.
#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

// x rounded to bf16 (every path), plus the weights rounded to bf16 where the group scale is
// applied in bf16 (group sizes below 128 in the GEMV, every GEMM): the bf16 tolerance.
constexpr double kU4Tol = 1e-2;

struct U4Case {
  int64_t rows, n, k, group_size;
  uint32_t perm_seed = 0;    // non-zero: an act-order weight
  size_t weight_offset = 0;  // bytes the codes are shifted from their allocation's start
};

std::string Name(const U4Case& c) {
  return "U4 g" + std::to_string(c.group_size) + " x(" + std::to_string(c.rows) + ", " +
         std::to_string(c.k) + ") w(" + std::to_string(c.n) + ", " + std::to_string(c.k) + ")" +
         (c.perm_seed != 0 ? " col_perm" : "") +
         (c.weight_offset != 0 ? " codes misaligned by " + std::to_string(c.weight_offset) : "");
}

void RunCase(Backend& gpu, const U4Case& c, uint32_t seed) {
  SCOPED_TRACE(Name(c));
  CpuBackend cpu;
  const std::vector<float> w = RandomFloats(static_cast<size_t>(c.n * c.k), seed, 0.02f);
  auto weight = MakeU4Weight(gpu, w, c.n, c.k, c.group_size, c.perm_seed);
  WeightView dev_view = weight->dev_view;
  const DeviceBuffer shifted = UploadShifted(gpu, weight->bytes, c.weight_offset, &dev_view);
  MirroredF32 x(gpu, RandomFloats(static_cast<size_t>(c.rows * c.k), seed + 1), c.rows, c.k);
  MirroredF32 out(gpu, std::vector<float>(static_cast<size_t>(c.rows * c.n)), c.rows, c.n);
  cpu.MatMul(x.cpu(), weight->host_view, out.cpu());
  gpu.MatMul(x.gpu(), dev_view, out.gpu());
  ExpectClose(Download(gpu, out.gpu()), out.host, c.n, kU4Tol, "MatMul " + Name(c));
}

TEST(CudaInt4MatMul, DecodeRowsOnTensorCores) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  ASSERT_TRUE(gpu->caps().int4_weights);
  uint32_t seed = 1000;
  for (int64_t group : {128, 32}) {
    for (int64_t rows : {1, 2, 5, 16}) {
      RunCase(*gpu, {rows, 1024, 8192, group}, seed += 2);
      RunCase(*gpu, {rows, 1000, 8192, group}, seed += 2);  // a partial last row tile
    }
    RunCase(*gpu, {1, 8192, 28672, group}, seed += 2);  // down's K: split
    RunCase(*gpu, {9, 520, 28672, group}, seed += 2);
  }
  RunCase(*gpu, {3, 512, 4096, 64}, seed += 2);
  RunCase(*gpu, {3, 512, 4096, 256}, seed += 2);  // groups of two chunks
}

TEST(CudaInt4MatMul, ActOrderDecodeRows) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  uint32_t seed = 2000;
  for (int64_t group : {128, 32}) {
    for (int64_t rows : {1, 5, 16}) RunCase(*gpu, {rows, 1000, 8192, group, seed + 7}, seed += 2);
  }
}

TEST(CudaInt4MatMul, PrefillRowsDequantisedToBf16) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  uint32_t seed = 3000;
  for (int64_t group : {128, 32}) {
    for (int64_t rows : {17, 300}) {
      RunCase(*gpu, {rows, 1024, 8192, group}, seed += 2);
      RunCase(*gpu, {rows, 1000, 8192, group, seed + 5}, seed += 2);  // act-order
    }
    RunCase(*gpu, {40, 520, 28672, group}, seed += 2);
  }
  RunCase(*gpu, {20, 4400, 8192, 128}, seed += 2);  // two widened blocks (4096 rows + the rest)
}

TEST(CudaInt4MatMul, ShapesTheFastPathsRefuse) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const U4Case cases[] = {
      {3, 64, 480, 96},           // group not 32 * 2^j: generic GEMV
      {5, 33, 200, 40},           // K not a multiple of 128: generic GEMV
      {2, 40, 64, 2},             // two-column groups
      {20, 40, 64, 2},            // ... dequantised byte by byte
      {4, 64, 256, 32, 9},        // act-order, K of two chunks
      {3, 64, 256, 128, 0, 2},    // misaligned codes: generic GEMV
      {20, 64, 256, 128, 0, 2},   // ... dequantised byte by byte
      {100, 33, 200, 40, 11},     // cuBLASLt with odd N, act-order
  };
  uint32_t seed = 4000;
  for (const U4Case& c : cases) RunCase(*gpu, c, seed += 2);
}

// q, k, v sharing x as MatMulShared runs them; each out against the CPU's MatMul.
void RunSharedCase(Backend& gpu, int64_t rows, int64_t k, const std::vector<int64_t>& ns,
                   int64_t group_size, bool act_order, uint32_t seed) {
  const std::string name = "U4 g" + std::to_string(group_size) + " rows=" + std::to_string(rows) +
                           " k=" + std::to_string(k) + " targets=" + std::to_string(ns.size()) +
                           (act_order ? " col_perm" : "");
  SCOPED_TRACE(name);
  CpuBackend cpu;
  MirroredF32 x(gpu, RandomFloats(static_cast<size_t>(rows * k), seed), rows, k);
  std::vector<std::unique_ptr<MirroredWeight>> weights;
  std::vector<std::unique_ptr<MirroredF32>> outs;
  std::vector<MatMulTarget> targets;
  for (int64_t n : ns) {
    const std::vector<float> w = RandomFloats(static_cast<size_t>(n * k), ++seed, 0.02f);
    weights.push_back(MakeU4Weight(gpu, w, n, k, group_size, act_order ? 77 : 0));
    outs.push_back(std::make_unique<MirroredF32>(
        gpu, std::vector<float>(static_cast<size_t>(rows * n), -1.0f), rows, n));
    targets.push_back({&weights.back()->dev_view, outs.back()->gpu()});
  }
  if (act_order) {  // one col_perm for all, as GPTQ gives q, k and v (same seed, same order)
    for (auto& w : weights) w->dev_view.col_perm = weights[0]->dev_view.col_perm;
  }
  gpu.MatMulShared(x.gpu(), targets);
  for (size_t i = 0; i < ns.size(); ++i) {
    std::vector<float> want(static_cast<size_t>(rows * ns[i]));
    cpu.MatMul(x.cpu(), weights[i]->host_view, F32Tensor(want.data(), rows, ns[i]));
    ExpectClose(Download(gpu, outs[i]->gpu()), want, ns[i], kU4Tol,
                name + " target " + std::to_string(i));
  }
}

TEST(CudaInt4MatMul, SharedInputGroupsMatchCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  uint32_t seed = 5000;
  for (int64_t group : {128, 32}) {
    for (int64_t rows : {1, 5, 16}) {
      RunSharedCase(*gpu, rows, 8192, {512, 128, 128}, group, false, seed += 10);  // grouped
      RunSharedCase(*gpu, rows, 2048, {1024, 1000}, group, false, seed += 10);  // partial tile
    }
    RunSharedCase(*gpu, 2, 8192, {512, 128, 128}, group, true, seed += 10);  // act-order
    RunSharedCase(*gpu, 2, 2048, {1000, 64}, group, false, seed += 10);  // not whole tiles
    RunSharedCase(*gpu, 40, 8192, {512, 128}, group, false, seed += 10);  // prefill rows
  }
}

}  // namespace
}  // namespace strata::testing
