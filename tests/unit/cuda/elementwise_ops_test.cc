// The CUDA elementwise kernels against the CPU reference ops, by normalized error, on
// random inputs of Llama 3.1 70B widths; the optional bf16 outputs of RMSNorm and SwiGLU
// must be exactly the fp32 outputs rounded. Needs a GPU: labelled `gpu`.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_ops.h"
#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/device_check.h"
#include "common/engine/rope.h"
#include "common/model/dtype.h"

namespace strata {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Device copy of a host vector, freed at scope end.
template <typename T>
class DeviceVec {
 public:
  explicit DeviceVec(const std::vector<T>& host) : n_(host.size()) {
    STRATA_CUDA_CHECK(cudaMalloc(&p_, n_ * sizeof(T)));
    STRATA_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceVec() { cudaFree(p_); }
  T* get() { return p_; }
  std::vector<T> ToHost() const {
    std::vector<T> h(n_);
    STRATA_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

double NormalizedError(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return diff / scale;
}

// Each of got_bf16 is want rounded to bf16 (nearest even).
void ExpectBf16Of(const std::vector<uint16_t>& got_bf16, const std::vector<float>& want) {
  ASSERT_EQ(got_bf16.size(), want.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i) mismatches += got_bf16[i] != FloatToBF16(want[i]);
  EXPECT_EQ(mismatches, 0u) << "bf16 outputs that are not the fp32 output rounded";
}

TEST(CudaElementwise, RmsNormBf16WeightsMatchesCpu) {
  const int64_t rows = 7, n = 8192;
  std::vector<float> x = Random(rows * n, 1, 3.0f), w_f = Random(n, 2);
  std::vector<uint16_t> w_bf(n);
  for (int64_t i = 0; i < n; ++i) w_bf[i] = FloatToBF16(w_f[i]);
  std::vector<float> w_ref(n);
  ConvertToFloat(w_bf.data(), DType::kBF16, w_ref.data(), n);
  std::vector<float> expected(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    cpu::RmsNorm(x.data() + r * n, w_ref.data(), n, 1e-5f, expected.data() + r * n);
  }
  DeviceVec<float> dx(x), dout{std::vector<float>(rows * n)};
  DeviceVec<uint16_t> dw(w_bf), dout_bf{std::vector<uint16_t>(rows * n)};
  cuda::LaunchRmsNorm(dx.get(), reinterpret_cast<const __nv_bfloat16*>(dw.get()), rows, n, 1e-5f,
                      dout.get(), reinterpret_cast<__nv_bfloat16*>(dout_bf.get()), nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got = dout.ToHost();
  EXPECT_LT(NormalizedError(got, expected), 1e-6);
  ExpectBf16Of(dout_bf.ToHost(), got);
}

TEST(CudaElementwise, RopeLlama3MatchesCpu) {
  ModelConfig c;
  c.head_dim = 128;
  c.rope_theta = 500000.0;
  c.rope_scaling = {RopeScaling::Type::kLlama3, 8.0, 1.0, 4.0, 8192};
  const std::vector<float> inv_freq = RopeInvFreq(c);
  const int64_t tokens = 5, heads = 64, hd = 128;
  std::vector<int32_t> positions = {0, 1, 255, 4096, 100000};
  std::vector<float> x = Random(tokens * heads * hd, 3);
  std::vector<float> expected = x;
  std::vector<float> cos(hd / 2), sin(hd / 2);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      cos[i] = std::cos(static_cast<float>(positions[t]) * inv_freq[i]);
      sin[i] = std::sin(static_cast<float>(positions[t]) * inv_freq[i]);
    }
    cpu::RopeRotate(expected.data() + t * heads * hd, heads, hd, cos.data(), sin.data());
  }
  DeviceVec<float> dx(x), dfreq(inv_freq);
  DeviceVec<int32_t> dpos(positions);
  cuda::LaunchRope(dx.get(), dpos.get(), dfreq.get(), tokens, heads, hd, nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  EXPECT_LT(NormalizedError(dx.ToHost(), expected), 1e-5);
}

TEST(CudaElementwise, SiluMulMatchesCpu) {
  const int64_t n = 28672 * 3;
  std::vector<float> gate = Random(n, 4, 4.0f), up = Random(n, 5);
  std::vector<float> expected(n);
  cpu::SiluMul(gate.data(), up.data(), n, expected.data());
  DeviceVec<float> dg(gate), du(up), dout{std::vector<float>(n)};
  DeviceVec<uint16_t> dout_bf{std::vector<uint16_t>(n)};
  cuda::LaunchSiluMul(dg.get(), du.get(), n, dout.get(),
                      reinterpret_cast<__nv_bfloat16*>(dout_bf.get()), nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got = dout.ToHost();
  EXPECT_LT(NormalizedError(got, expected), 1e-6);
  ExpectBf16Of(dout_bf.ToHost(), got);
}

TEST(CudaElementwise, ArgMaxRowsTakesTheLowestIndexAmongEqualMaxima) {
  // 9 rows over a 128256-token vocabulary: random rows, rows whose maximum appears twice (the
  // lower index must win, as the CPU's max_element), a maximum in the first and in the last
  // column, and a constant row.
  const int64_t rows = 9, cols = 128256;
  std::vector<float> x = Random(rows * cols, 7);
  auto row = [&](int64_t r) { return x.data() + r * cols; };
  row(3)[1000] = row(3)[90000] = 50.0f;
  row(4)[77] = row(4)[76] = row(4)[128255] = 60.0f;
  row(5)[0] = 70.0f;
  row(6)[cols - 1] = 70.0f;
  std::fill(row(7), row(7) + cols, -2.5f);
  DeviceVec<float> dx(x);
  DeviceVec<int32_t> dout{std::vector<int32_t>(rows)};
  cuda::LaunchArgMaxRows(dx.get(), rows, cols, dout.get(), nullptr);
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<int32_t> got = dout.ToHost();
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_EQ(got[static_cast<size_t>(r)], std::max_element(row(r), row(r) + cols) - row(r))
        << "row " << r;
  }
  EXPECT_EQ(got[3], 1000);
  EXPECT_EQ(got[4], 76);
  EXPECT_EQ(got[7], 0);
}

}  // namespace
}  // namespace strata
