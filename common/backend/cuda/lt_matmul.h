// LtMatmul: d (m, n) = b (m, k) · a (n, k)ᵀ in fp32 on cuBLASLt, row-major, for bf16, fp16,
// fp32 (no TF32) and fp8 e4m3 inputs — the prefill GEMM, with a = weights and b = the
// converted activations. cuBLAS is column-major, so this is dᵀ (n, m) = a · bᵀ with
// transa = T (the "TN" layout fp8 requires). One handle and one workspace; a plan
// (descriptors plus the heuristic's algorithm) per (input type, m, n, k, pointer
// alignments), made the first time the case is seen and reused after, so a call allocates
// nothing. Thread-safety: one thread drives an instance (the plan cache is unguarded).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <tuple>

namespace strata::cuda {

enum class LtInput : uint8_t { kBf16, kF16, kF32, kE4M3 };

enum class LtResult : uint8_t {
  kDone,              // d holds the product (fp8: with both scales applied)
  kScalesNotApplied,  // fp8 on a GPU without outer-vector scaling: d lacks the scales
};

class LtMatmul {
 public:
  // `workspace` (workspace_bytes of device memory) must outlive the instance.
  LtMatmul(void* workspace, size_t workspace_bytes);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // Whether cuBLASLt has an algorithm for this case (the pointers only matter for their
  // alignment and, for kE4M3, as the scale vectors the heuristic is shown); makes its plan
  // the first time the case is seen.
  bool Supports(LtInput input, int64_t m, int64_t n, int64_t k, int64_t ldd, const void* a,
                const void* b, const float* d, const float* a_scales, const float* b_scales);

  // a (n, k) and b (m, k) of `input`; d (m, n) fp32 with rows ldd >= n apart (ldd > n: d is
  // a column block of a wider matrix). For kE4M3, a_scales (n) multiplies column j of d and
  // b_scales (m) row i; other inputs ignore them. Supports() must have returned true for
  // the case.
  LtResult Run(LtInput input, int64_t m, int64_t n, int64_t k, int64_t ldd, const void* a,
               const void* b, float* d, const float* a_scales, const float* b_scales,
               cudaStream_t stream);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool usable = false;
    bool scales_in_epilogue = false;
    bool ran = false;  // cublasLtMatmul has accepted the plan once
  };
  // input, m, n, k, ldd, alignment of a, b, d (bytes, up to 256)
  using Key =
      std::tuple<LtInput, int64_t, int64_t, int64_t, int64_t, uint32_t, uint32_t, uint32_t>;

  // The case's plan, made on first use (usable == false when cuBLASLt has none).
  Plan& PlanFor(const Key& key, const float* a_scales, const float* b_scales);
  // Fills *plan's descriptors and algorithm; false (plan left empty) when the heuristic has
  // none. With outer_vec_scales, fp8 per-row / per-column scales (a_scales, b_scales) are
  // applied in the epilogue.
  bool MakePlan(const Key& key, bool outer_vec_scales, const float* a_scales, const float* b_scales,
                Plan* plan);
  static void Destroy(Plan* plan);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_;
  size_t workspace_bytes_;
  std::map<Key, Plan> plans_;
};

}  // namespace strata::cuda
