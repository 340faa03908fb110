// Helpers for the CUDA-vs-CPU tests: random inputs, host <-> device mirrors through the
// Backend interface, fp8 and int4 quantization of host weights, and a normalized-error comparison
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
#include "common/model/int4_weights.h"
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

// `bytes` again, `offset` bytes into a new device buffer, with view->data pointing at them: a
// weight off its allocation's alignment, for the kernels' misaligned paths. The buffer holds
// them; offset 0 leaves `view` as it is and returns null.
inline DeviceBuffer UploadShifted(Backend& gpu, const std::vector<std::byte>& bytes,
                                  size_t offset, WeightView* view) {
  if (offset == 0) return nullptr;
  std::vector<std::byte> padded(offset + bytes.size());
  std::copy(bytes.begin(), bytes.end(), padded.begin() + static_cast<std::ptrdiff_t>(offset));
  DeviceBuffer shifted = Upload(gpu, padded.data(), padded.size());
  view->data = shifted.get() + offset;
  return shifted;
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
// fp8 per-row scales or the int4 groups and column order on both sides.
struct MirroredWeight {
  std::vector<std::byte> bytes;        // (rows, cols) in dtype
  std::vector<float> scales;           // (rows) for fp8
  std::vector<uint16_t> group_scales;  // (rows, cols / group_size) bf16, int4
  std::vector<uint16_t> group_zeros;   // (rows, cols / group_size) bf16, int4
  std::vector<int32_t> col_perm;       // (cols) int4 act-order, or empty
  DeviceBuffer dev, dev_scales, dev_group_scales, dev_group_zeros, dev_col_perm;
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

// Host weights w (rows, cols) -> int4 as a pack stores them (QuantizeRowU4, groups of
// `group_size`), mirrored on the GPU. perm_seed != 0 makes it an act-order weight: a random
// col_perm, stored column j holding w[r][col_perm[j]].
inline std::unique_ptr<MirroredWeight> MakeU4Weight(Backend& gpu, const std::vector<float>& w,
                                                    int64_t rows, int64_t cols,
                                                    int64_t group_size, uint32_t perm_seed = 0) {
  auto m = std::make_unique<MirroredWeight>();
  const auto groups = static_cast<size_t>(cols / group_size);
  m->bytes.resize(static_cast<size_t>(rows * cols / 2));
  m->group_scales.resize(static_cast<size_t>(rows) * groups);
  m->group_zeros.resize(m->group_scales.size());
  if (perm_seed != 0) {
    m->col_perm.resize(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) m->col_perm[static_cast<size_t>(j)] = static_cast<int32_t>(j);
    std::mt19937 rng(perm_seed);
    std::shuffle(m->col_perm.begin(), m->col_perm.end(), rng);
  }
  std::vector<float> stored(static_cast<size_t>(cols));  // one row in stored column order
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t from = m->col_perm.empty() ? j : m->col_perm[static_cast<size_t>(j)];
      stored[static_cast<size_t>(j)] = w[static_cast<size_t>(r * cols + from)];
    }
    const size_t g = static_cast<size_t>(r) * groups;
    EXPECT_FALSE(QuantizeRowU4(stored.data(), cols, group_size,
                               reinterpret_cast<uint8_t*>(m->bytes.data()) + r * cols / 2,
                               m->group_scales.data() + g, m->group_zeros.data() + g));
  }
  const auto upload = [&](const auto& v) { return Upload(gpu, v.data(), v.size() * sizeof(v[0])); };
  m->dev = upload(m->bytes);
  m->dev_group_scales = upload(m->group_scales);
  m->dev_group_zeros = upload(m->group_zeros);
  m->host_view = WeightView{m->bytes.data(), DType::kU4, rows, cols, nullptr};
  m->host_view.group_scales = m->group_scales.data();
  m->host_view.group_zeros = m->group_zeros.data();
  m->host_view.group_size = group_size;
  m->dev_view = m->host_view;
  m->dev_view.data = m->dev.get();
  m->dev_view.group_scales = reinterpret_cast<const uint16_t*>(m->dev_group_scales.get());
  m->dev_view.group_zeros = reinterpret_cast<const uint16_t*>(m->dev_group_zeros.get());
  if (!m->col_perm.empty()) {
    m->dev_col_perm = upload(m->col_perm);
    m->host_view.col_perm = m->col_perm.data();
    m->dev_view.col_perm = reinterpret_cast<const int32_t*>(m->dev_col_perm.get());
  }
  return m;
}

// Encodes fp32 values as `dtype` (fp8: per-row scales; int4: groups of
// kDefaultInt4GroupSize) and mirrors them on the GPU.
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
      return MakeU4Weight(gpu, w, rows, cols, kDefaultInt4GroupSize);
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
