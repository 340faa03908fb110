// CudaBackend's benchmark ceilings (see backend.h): device-memory read bandwidth with a
// read-only kernel, and cuBLASLt GEMM throughput on inputs already converted to the type the
// backend multiplies weights of a dtype in (bf16 for bf16, e4m3 for fp8 with unit scales),
// fp32 out as in the engine. Timed with CUDA events on the compute stream.
#include <algorithm>
#include <string>

#include "common/backend/cuda/cuda_backend.h"
#include "common/backend/cuda/probe_kernels.h"
#include "common/backend/device_check.h"

namespace strata::cuda {
namespace {

// Times `iters` runs of `run` on `stream` after one warm-up; the fastest run in ms.
template <typename F>
float BestMs(cudaStream_t stream, int iters, F&& run) {
  cudaEvent_t start = nullptr, end = nullptr;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&end));
  float best = 1e30f;
  for (int i = 0; i <= iters; ++i) {
    STRATA_CUDA_CHECK(cudaEventRecord(start, stream));
    run();
    STRATA_CUDA_CHECK(cudaEventRecord(end, stream));
    STRATA_CUDA_CHECK(cudaEventSynchronize(end));
    float ms = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
    if (i > 0) best = std::min(best, ms);
  }
  STRATA_CUDA_CHECK(cudaEventDestroy(start));
  STRATA_CUDA_CHECK(cudaEventDestroy(end));
  return best;
}

}  // namespace

StatusOr<double> CudaBackend::ProbeReadGBps(size_t bytes, int iters) {
  if (bytes < 4096 || iters < 1) return InvalidArgument("read probe needs >= 4096 bytes, >= 1 run");
  bytes &= ~size_t{15};
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer data, Allocate(bytes));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer sink, Allocate(sizeof(unsigned)));
  STRATA_CUDA_CHECK(cudaMemsetAsync(data.get(), 0x5A, bytes, compute_));
  const int blocks = sm_count_ * 4;
  const float ms = BestMs(compute_, iters, [&] {
    LaunchReadAll(data.get(), bytes, reinterpret_cast<unsigned*>(sink.get()), blocks, compute_);
  });
  return static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
}

StatusOr<double> CudaBackend::ProbeGemmTflops(DType dtype, int64_t m, int64_t n, int64_t k,
                                              int iters) {
  if (m < 1 || n < 1 || k < 1 || iters < 1) {
    return InvalidArgument("GEMM probe needs m, n, k, runs >= 1");
  }
  LtInput input = LtInput::kF32;
  switch (dtype) {
    case DType::kBF16: input = LtInput::kBf16; break;
    case DType::kF16: input = LtInput::kF16; break;
    case DType::kF8E4M3: input = LtInput::kE4M3; break;
    case DType::kF32: break;
    case DType::kU4: return Unimplemented("GEMM probe: no cuBLASLt input for U4 weights");
  }
  const size_t elem = DTypeSize(dtype);
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer a, Allocate(static_cast<size_t>(n * k) * elem));  // (n, k)
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer b, Allocate(static_cast<size_t>(m * k) * elem));  // (m, k)
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer d, Allocate(static_cast<size_t>(m * n) * sizeof(float)));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer scales,
                          Allocate(static_cast<size_t>(std::max(m, n)) * sizeof(float)));
  LaunchFillPattern(a.get(), dtype, static_cast<size_t>(n * k), 1, compute_);
  LaunchFillPattern(b.get(), dtype, static_cast<size_t>(m * k), 2, compute_);
  LaunchFillPattern(scales.get(), DType::kF32, static_cast<size_t>(std::max(m, n)), 3, compute_);
  auto* d32 = reinterpret_cast<float*>(d.get());
  const auto* s32 = reinterpret_cast<const float*>(scales.get());
  if (!lt_->Supports(input, m, n, k, n, a.get(), b.get(), d32, s32, s32)) {
    return Unimplemented("cuBLASLt has no algorithm for a " + std::string(DTypeName(dtype)) +
                         " GEMM of " + std::to_string(m) + " x " + std::to_string(n) + " x " +
                         std::to_string(k) + " on this GPU");
  }
  const float ms = BestMs(compute_, iters, [&] {
    (void)lt_->Run(input, m, n, k, n, a.get(), b.get(), d32, s32, s32, compute_);
  });
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) /
         (ms * 1e-3) / 1e12;
}

}  // namespace strata::cuda
