// Helpers for the CUDA-vs-CPU tests: random inputs, host <-> device mirrors through the
// Backend interface, fp8 quantization of host weights, and a normalized-error comparison
// that names the worst element so a failure explains itself.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/backend/backend.h"
#include "common/backend/backend_factory.h"
#include "common/model/dtype.h"
#include "common/model/llama_weights.h"

namespace strata::testing {

inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The CUDA backend on device 0; fails the test (returns nullptr) when there is none.
inline std::unique_ptr<Backend> MakeCudaBackend() {
  StatusOr<std::unique_ptr<Backend>> backend = CreateBackend("cuda");
  EXPECT_TRUE(backend.ok()) << backend.status().ToString();
  return backend.ok() ? std::move(backend).value() : nullptr;
}

// Device memory holding a copy of `bytes` host bytes.
inline DeviceBuffer Upload(Backend& gpu, const void* data, size_t bytes) {
  StatusOr<DeviceBuffer> buf = gpu.Allocate(bytes);
  EXPECT_TRUE(buf.ok()) << buf.status().ToString();
  if (!buf.ok()) return nullptr;
  if (bytes > 0) gpu.CopyToDevice(buf->get(), data, bytes);
  return std::move(buf).value();
}

inline std::vector<float> Download(Backend& gpu, const Tensor& t) {
  std::vector<float> host(static_cast<size_t>(t.numel()));
  gpu.CopyToHost(host.data(), t.data, host.size() * sizeof(float));
  return host;
}

inline Tensor F32Tensor(void* data, int64_t rows, int64_t cols) {
  return Tensor{static_cast<std::byte*>(data), DType::kF32, rows, cols};
}

// An fp32 activation on both backends: `host` is the CPU backend's tensor memory.
struct MirroredF32 {
  std::vector<float> host;  // (rows, cols)
  DeviceBuffer dev;         // (rows, cols)
  int64_t rows = 0, cols = 0;

  MirroredF32(Backend& gpu, std::vector<float> values, int64_t r, int64_t c)
      : host(std::move(values)), rows(r), cols(c) {
    dev = Upload(gpu, host.data(), host.size() * sizeof(float));
  }
  Tensor cpu() { return F32Tensor(host.data(), rows, cols); }
  Tensor gpu() { return F32Tensor(dev.get(), rows, cols); }
};

// A weight in host memory (for the CPU backend) and a device copy (for the GPU), with the
// fp8 per-row scales on both sides.
struct MirroredWeight {
  std::vector<std::byte> bytes;  // (rows, cols) in dtype
  std::vector<float> scales;     // (rows) for fp8
  DeviceBuffer dev, dev_scales;
  WeightView host_view, dev_view;
};

// Host weights -> fp8 e4m3 bytes with one scale per row (max |row| / 448), as a pack does.
inline void QuantizeRowsE4M3(const std::vector<float>& w, int64_t rows, int64_t cols,
                             std::vector<std::byte>* bytes, std::vector<float>* scales) {
  bytes->resize(static_cast<size_t>(rows * cols));
  scales->resize(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
    const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
    (*scales)[r] = scale;
    for (int64_t c = 0; c < cols; ++c) {
      (*bytes)[r * cols + c] = static_cast<std::byte>(FloatToF8E4M3(w[r * cols + c] / scale));
    }
  }
}

// Encodes fp32 values as `dtype` (fp8: per-row scales) and mirrors them on the GPU.
inline std::unique_ptr<MirroredWeight> MakeWeight(Backend& gpu, const std::vector<float>& w,
                                                  int64_t rows, int64_t cols, DType dtype) {
  auto m = std::make_unique<MirroredWeight>();
  const size_t n = static_cast<size_t>(rows * cols);
  switch (dtype) {
    case DType::kF32:
      m->bytes.resize(n * 4);
      std::memcpy(m->bytes.data(), w.data(), n * 4);
      break;
    case DType::kBF16:
    case DType::kF16:
      m->bytes.resize(n * 2);
      for (size_t i = 0; i < n; ++i) {
        const uint16_t b = dtype == DType::kBF16 ? FloatToBF16(w[i]) : FloatToF16(w[i]);
        std::memcpy(m->bytes.data() + 2 * i, &b, 2);
      }
      break;
    case DType::kF8E4M3:
      QuantizeRowsE4M3(w, rows, cols, &m->bytes, &m->scales);
      break;
    case DType::kU4:
      ADD_FAILURE() << "MakeWeight has no U4 encoding";
      return nullptr;
  }
  m->dev = Upload(gpu, m->bytes.data(), m->bytes.size());
  m->host_view = WeightView{m->bytes.data(), dtype, rows, cols, nullptr};
  m->dev_view = WeightView{m->dev.get(), dtype, rows, cols, nullptr};
  if (!m->scales.empty()) {
    m->dev_scales = Upload(gpu, m->scales.data(), m->scales.size() * sizeof(float));
    m->host_view.scales = m->scales.data();
    m->dev_view.scales = reinterpret_cast<const float*>(m->dev_scales.get());
  }
  return m;
}

// max |got - want| / max |want|, with the worst element; any non-finite `got` is an infinite
// error at its index.
struct Diff {
  double error = 0.0;
  size_t worst = 0;
  float got = 0.0f, want = 0.0f;
};

inline Diff Compare(const std::vector<float>& got, const std::vector<float>& want) {
  Diff d;
  if (got.size() != want.size() || want.empty()) {
    d.error = INFINITY;
    return d;
  }
  double max_diff = -1.0, scale = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
    const double diff =
        std::isfinite(got[i]) ? std::fabs(static_cast<double>(got[i]) - want[i]) : INFINITY;
    if (diff > max_diff) {
      max_diff = diff;
      d.worst = i;
    }
  }
  d.got = got[d.worst];
  d.want = want[d.worst];
  d.error = scale > 0.0 ? max_diff / scale : max_diff;
  return d;
}

inline std::string Describe(const Diff& d, int64_t cols, const std::string& what) {
  char line[512];
  std::snprintf(line, sizeof(line),
                "%s: normalized error %.3g (max|gpu-cpu| / max|cpu|), worst at [%lld, %lld]: "
                "gpu=%.7g cpu=%.7g",
                what.c_str(), d.error, static_cast<long long>(d.worst / cols),
                static_cast<long long>(d.worst % cols), d.got, d.want);
  return line;
}

// Prints the comparison and checks it against `tolerance`.
inline void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, int64_t cols,
                        double tolerance, const std::string& what) {
  const Diff d = Compare(got, want);
  const std::string text = Describe(d, cols, what);
  std::printf("%s\n", text.c_str());
  EXPECT_LT(d.error, tolerance) << text << " (tolerance " << tolerance << ")";
}

}  // namespace strata::testing
