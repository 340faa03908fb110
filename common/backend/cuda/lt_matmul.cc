// LtMatmul (see lt_matmul.h): plan cache and the cuBLASLt calls.
#include "common/backend/cuda/lt_matmul.h"

#include <spdlog/spdlog.h>

#include "common/backend/device_check.h"
#include "common/util/check.h"

namespace strata::cuda {
namespace {

cudaDataType_t DataType(LtInput input) {
  switch (input) {
    case LtInput::kBf16:
      return CUDA_R_16BF;
    case LtInput::kF16:
      return CUDA_R_16F;
    case LtInput::kF32:
      return CUDA_R_32F;
    case LtInput::kE4M3:
      return CUDA_R_8F_E4M3;
  }
  return CUDA_R_32F;
}

const char* InputName(LtInput input) {
  switch (input) {
    case LtInput::kBf16:
      return "bf16";
    case LtInput::kF16:
      return "fp16";
    case LtInput::kF32:
      return "fp32";
    case LtInput::kE4M3:
      return "fp8 e4m3";
  }
  return "?";
}

// The largest power of two (up to 256) that divides the address.
uint32_t Alignment(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

template <typename T>
void SetDesc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)));
}

template <typename T>
void SetPref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
             const T& value) {
  STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)));
}

}  // namespace

LtMatmul::LtMatmul(void* workspace, size_t workspace_bytes)
    : workspace_(workspace), workspace_bytes_(workspace_bytes) {
  STRATA_CUBLAS_CHECK(cublasLtCreate(&handle_));
}

LtMatmul::~LtMatmul() {
  for (auto& [key, plan] : plans_) Destroy(&plan);
  cublasLtDestroy(handle_);
}

void LtMatmul::Destroy(Plan* plan) {
  if (plan->a != nullptr) cublasLtMatrixLayoutDestroy(plan->a);
  if (plan->b != nullptr) cublasLtMatrixLayoutDestroy(plan->b);
  if (plan->d != nullptr) cublasLtMatrixLayoutDestroy(plan->d);
  if (plan->desc != nullptr) cublasLtMatmulDescDestroy(plan->desc);
  *plan = Plan{};
}

bool LtMatmul::MakePlan(const Key& key, bool outer_vec_scales, const float* a_scales,
                        const float* b_scales, Plan* plan) {
  const auto [input, m, n, k, ldd, align_a, align_b, align_d] = key;
  const cudaDataType_t type = DataType(input);
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  SetDesc(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
  SetDesc(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  if (outer_vec_scales) {
    const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    SetDesc(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, mode);
    SetDesc(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, mode);
    SetDesc(plan->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, static_cast<const void*>(a_scales));
    SetDesc(plan->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, static_cast<const void*>(b_scales));
  }
  // Column-major views: a is (k, n) with ld k, transposed; b is (k, m); d is (n, m), ld ldd.
  STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, type, static_cast<uint64_t>(k),
                                                 static_cast<uint64_t>(n), k));
  STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, type, static_cast<uint64_t>(k),
                                                 static_cast<uint64_t>(m), k));
  STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, CUDA_R_32F, static_cast<uint64_t>(n),
                                                 static_cast<uint64_t>(m), ldd));

  cublasLtMatmulPreference_t pref = nullptr;
  STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  SetPref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<uint64_t>(workspace_bytes_));
  SetPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a);
  SetPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b);
  SetPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_d);
  SetPref(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_d);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  // An unsupported combination comes back as an error status or as zero results: both mean
  // "no plan", not a failure.
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
      handle_, plan->desc, plan->a, plan->b, plan->d, plan->d, pref, 1, &result, &found);
  STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  if (status != CUBLAS_STATUS_SUCCESS || found == 0) {
    Destroy(plan);
    return false;
  }
  plan->algo = result.algo;
  plan->usable = true;
  plan->scales_in_epilogue = outer_vec_scales;
  return true;
}

LtMatmul::Plan& LtMatmul::PlanFor(const Key& key, const float* a_scales, const float* b_scales) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  const auto [input, m, n, k, ldd, align_a, align_b, align_d] = key;
  Plan plan;
  const bool fp8 = input == LtInput::kE4M3;
  const bool have_scales = a_scales != nullptr && b_scales != nullptr;
  if (!(fp8 && have_scales &&
        MakePlan(key, /*outer_vec_scales=*/true, a_scales, b_scales, &plan))) {
    MakePlan(key, /*outer_vec_scales=*/false, nullptr, nullptr, &plan);
  }
  if (!plan.usable) {
    spdlog::warn(
        "cuBLASLt has no {} GEMM for m={} n={} k={} (alignments {}/{}/{}); using the "
        "GEMV kernels",
        InputName(input), m, n, k, align_a, align_b, align_d);
  } else if (fp8 && !plan.scales_in_epilogue) {
    spdlog::info(
        "cuBLASLt fp8 GEMM m={} n={} k={}: no outer-vector scaling on this GPU, "
        "scales applied by a separate kernel",
        m, n, k);
  }
  return plans_.emplace(key, plan).first->second;
}

bool LtMatmul::Supports(LtInput input, int64_t m, int64_t n, int64_t k, int64_t ldd,
                        const void* a, const void* b, const float* d, const float* a_scales,
                        const float* b_scales) {
  const Key key{input, m, n, k, ldd, Alignment(a), Alignment(b), Alignment(d)};
  return PlanFor(key, a_scales, b_scales).usable;
}

LtResult LtMatmul::Run(LtInput input, int64_t m, int64_t n, int64_t k, int64_t ldd, const void* a,
                       const void* b, float* d, const float* a_scales, const float* b_scales,
                       cudaStream_t stream) {
  const Key key{input, m, n, k, ldd, Alignment(a), Alignment(b), Alignment(d)};
  Plan& plan = PlanFor(key, a_scales, b_scales);
  STRATA_CHECK_MSG(plan.usable, "LtMatmul::Run on a case cuBLASLt does not support");
  const float alpha = 1.0f, beta = 0.0f;
  auto matmul = [&] {
    return cublasLtMatmul(handle_, plan.desc, &alpha, a, plan.a, b, plan.b, &beta, d, plan.d, d,
                          plan.d, &plan.algo, workspace_, workspace_bytes_, stream);
  };
  if (plan.scales_in_epilogue) {
    STRATA_CHECK(a_scales != nullptr && b_scales != nullptr);
    SetDesc(plan.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, static_cast<const void*>(a_scales));
    SetDesc(plan.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, static_cast<const void*>(b_scales));
    const cublasStatus_t status = matmul();
    if (status == CUBLAS_STATUS_SUCCESS) {
      plan.ran = true;
      return LtResult::kDone;
    }
    // The heuristic offered an algorithm the call then refused (checked before anything is
    // enqueued): fall back to unscaled fp8 for this case. Once a plan ran, an error is real.
    STRATA_CHECK_MSG(!plan.ran, cublasLtGetStatusName(status));
    spdlog::warn(
        "cuBLASLt refused outer-vector fp8 scaling for m={} n={} k={} ({}); scales "
        "applied by a separate kernel",
        m, n, k, cublasLtGetStatusName(status));
    Destroy(&plan);
    STRATA_CHECK_MSG(MakePlan(key, /*outer_vec_scales=*/false, nullptr, nullptr, &plan),
                     "cuBLASLt has no unscaled fp8 GEMM for a case it first accepted");
  }
  STRATA_CUBLAS_CHECK(matmul());
  plan.ran = true;
  return input == LtInput::kE4M3 ? LtResult::kScalesNotApplied : LtResult::kDone;
}

}  // namespace strata::cuda
