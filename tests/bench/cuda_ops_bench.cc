// Google Benchmark of the CUDA backend's hot ops on Llama 3.1 70B shapes, timed with
// cudaEvents on the compute stream (manual time):
//  * BM_DeviceCopy: device-to-device cudaMemcpy, bytes read + written per second — the
//    memory ceiling the GEMVs are compared with (measured once, in this run).
//  * BM_DecodeGemv: MatMul of 1..16 rows against one weight matrix of a 70B layer (bf16,
//    fp8), in weight bytes per second and as a fraction of the copy ceiling. Copies of the
//    matrix are rotated so each call streams from HBM, not L2.
//  * BM_DecodeLayer: a layer's seven decode GEMVs back to back; `vs_floor` = time /
//    (weight bytes / copy ceiling), the goal being <= 1.2.
//  * BM_PrefillGemm: 2048 x 8192 x 28672 (bf16, fp8), TFLOP/s, activation conversion included.
//  * BM_AttentionDecode / BM_AttentionPrefill: 64 heads, 8 KV heads, head_dim 128.
// Run: strata_cuda_bench [--benchmark_filter=...]. Thread-safety: single-threaded.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/backend/backend_factory.h"
#include "common/backend/cuda/cuda_check.h"

namespace strata {
namespace {

constexpr int64_t kHidden = 8192, kMlp = 28672, kQDim = 8192, kKvDim = 1024;
constexpr int64_t kHeads = 64, kKvHeads = 8, kHeadDim = 128;
constexpr size_t kRotateBytes = size_t{512} << 20;  // weight copies per GEMV case: > L2

struct Matrix {
  const char* name;
  int64_t rows, cols;
};
constexpr Matrix kLayer[] = {
    {"q", kQDim, kHidden},   {"k", kKvDim, kHidden}, {"v", kKvDim, kHidden}, {"o", kHidden, kQDim},
    {"gate", kMlp, kHidden}, {"up", kMlp, kHidden},  {"down", kHidden, kMlp}};

Backend& Gpu() {
  static std::unique_ptr<Backend> gpu = [] {
    StatusOr<std::unique_ptr<Backend>> b = CreateBackend("cuda");
    if (!b.ok()) {
      std::fprintf(stderr, "%s\n", b.status().ToString().c_str());
      std::abort();
    }
    return std::move(b).value();
  }();
  return *gpu;
}

DeviceBuffer Alloc(size_t bytes, int fill) {
  StatusOr<DeviceBuffer> buf = Gpu().Allocate(bytes);
  if (!buf.ok()) {
    std::fprintf(stderr, "%s\n", buf.status().ToString().c_str());
    std::abort();
  }
  STRATA_CUDA_CHECK(cudaMemset(buf->get(), fill, bytes));
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  return std::move(buf).value();
}

Tensor F32(const DeviceBuffer& b, int64_t rows, int64_t cols) {
  return Tensor{b.get(), DType::kF32, rows, cols};
}

// Times `body` (enqueued on the compute stream) per benchmark iteration; returns total seconds.
template <typename Body>
double TimeIterations(benchmark::State& state, Body&& body) {
  Backend& gpu = Gpu();
  auto start = gpu.CreateEvent(), end = gpu.CreateEvent();
  double total = 0.0;
  for (auto _ : state) {
    gpu.RecordEvent(*start, Stream::kCompute);
    body();
    gpu.RecordEvent(*end, Stream::kCompute);
    gpu.WaitEvent(*end);
    const double seconds = gpu.ElapsedMs(*start, *end) / 1e3;
    state.SetIterationTime(seconds);
    total += seconds;
  }
  return total;
}

// Device-to-device copy bandwidth (bytes read + written per second), measured once.
double CopyCeiling() {
  static const double ceiling = [] {
    constexpr size_t kBytes = size_t{1} << 30;
    DeviceBuffer a = Alloc(kBytes, 1), b = Alloc(kBytes, 2);
    cudaStream_t stream;
    cudaEvent_t start, end;
    STRATA_CUDA_CHECK(cudaStreamCreate(&stream));
    STRATA_CUDA_CHECK(cudaEventCreate(&start));
    STRATA_CUDA_CHECK(cudaEventCreate(&end));
    float best = 1e30f;
    for (int i = 0; i < 10; ++i) {
      STRATA_CUDA_CHECK(cudaEventRecord(start, stream));
      STRATA_CUDA_CHECK(
          cudaMemcpyAsync(b.get(), a.get(), kBytes, cudaMemcpyDeviceToDevice, stream));
      STRATA_CUDA_CHECK(cudaEventRecord(end, stream));
      STRATA_CUDA_CHECK(cudaEventSynchronize(end));
      float ms = 0.0f;
      STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
      best = std::min(best, ms);
    }
    STRATA_CUDA_CHECK(cudaEventDestroy(start));
    STRATA_CUDA_CHECK(cudaEventDestroy(end));
    STRATA_CUDA_CHECK(cudaStreamDestroy(stream));
    return 2.0 * kBytes / (best / 1e3);
  }();
  return ceiling;
}

void BM_DeviceCopy(benchmark::State& state) {
  constexpr size_t kBytes = size_t{1} << 30;
  DeviceBuffer a = Alloc(kBytes, 1), b = Alloc(kBytes, 2);
  TimeIterations(state,
                 [&] { Gpu().CopyToDeviceAsync(b.get(), a.get(), kBytes, Stream::kCompute); });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * kBytes));
  state.counters["ceiling_GBps"] = CopyCeiling() / 1e9;
}

DType DTypeArg(int64_t arg) { return arg == 0 ? DType::kBF16 : DType::kF8E4M3; }

// Weights of `m` in `dtype` (a fill of small finite values) with unit fp8 scales; `copies`
// back-to-back copies to rotate through.
struct DeviceMatrix {
  DeviceBuffer bytes, scales;
  std::vector<WeightView> views;
};

DeviceMatrix MakeMatrix(const Matrix& m, DType dtype, int copies) {
  DeviceMatrix d;
  const size_t one = static_cast<size_t>(m.rows * m.cols) * DTypeSize(dtype);
  d.bytes = Alloc(one * static_cast<size_t>(copies), 0x3c);  // bf16 0x3c3c ~ 0.011, e4m3 1.5
  std::vector<float> ones(static_cast<size_t>(m.rows), 1.0f);
  d.scales = Alloc(ones.size() * sizeof(float), 0);
  Gpu().CopyToDevice(d.scales.get(), ones.data(), ones.size() * sizeof(float));
  for (int i = 0; i < copies; ++i) {
    d.views.push_back(WeightView{
        d.bytes.get() + one * static_cast<size_t>(i), dtype, m.rows, m.cols,
        dtype == DType::kF8E4M3 ? reinterpret_cast<const float*>(d.scales.get()) : nullptr});
  }
  return d;
}

bool SkipWithoutFp8(benchmark::State& state, DType dtype) {
  if (dtype == DType::kF8E4M3 && !Gpu().caps().fp8_weights) {
    state.SkipWithError("this GPU has no fp8 tensor cores");
    return true;
  }
  return false;
}

// Args: dtype (0 bf16, 1 fp8), matrix index in kLayer, rows of x.
void BM_DecodeGemv(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const Matrix& m = kLayer[state.range(1)];
  const int64_t rows = state.range(2);
  if (SkipWithoutFp8(state, dtype)) return;
  const size_t bytes = static_cast<size_t>(m.rows * m.cols) * DTypeSize(dtype);
  const int copies = static_cast<int>(std::max<size_t>(1, kRotateBytes / bytes));
  DeviceMatrix w = MakeMatrix(m, dtype, copies);
  DeviceBuffer x = Alloc(static_cast<size_t>(rows * m.cols) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(rows * m.rows) * 4, 0);
  int next = 0;
  const double seconds = TimeIterations(state, [&] {
    Gpu().MatMul(F32(x, rows, m.cols), w.views[static_cast<size_t>(next)], F32(out, rows, m.rows));
    next = (next + 1) % copies;
  });
  const double rate = static_cast<double>(bytes) * state.iterations() / seconds;
  state.SetLabel(std::string(DTypeName(dtype)) + " " + m.name + " " + std::to_string(m.rows) + "x" +
                 std::to_string(m.cols) + " rows=" + std::to_string(rows));
  state.counters["GBps"] = rate / 1e9;
  state.counters["of_copy_ceiling"] = rate / CopyCeiling();
}

// Args: dtype, rows. The seven matrices of one layer, each once.
void BM_DecodeLayer(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const int64_t rows = state.range(1);
  if (SkipWithoutFp8(state, dtype)) return;
  std::vector<DeviceMatrix> layer;
  size_t bytes = 0;
  for (const Matrix& m : kLayer) {
    layer.push_back(MakeMatrix(m, dtype, 1));
    bytes += static_cast<size_t>(m.rows * m.cols) * DTypeSize(dtype);
  }
  DeviceBuffer x = Alloc(static_cast<size_t>(rows * kMlp) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(rows * kMlp) * 4, 0);
  const double seconds = TimeIterations(state, [&] {
    for (size_t i = 0; i < layer.size(); ++i) {
      const Matrix& m = kLayer[i];
      Gpu().MatMul(F32(x, rows, m.cols), layer[i].views[0], F32(out, rows, m.rows));
    }
  });
  const double per_layer = seconds / static_cast<double>(state.iterations());
  state.SetLabel(std::string(DTypeName(dtype)) + " rows=" + std::to_string(rows) + ", " +
                 std::to_string(bytes >> 20) + " MiB of weights");
  state.counters["GBps"] = static_cast<double>(bytes) / per_layer / 1e9;
  state.counters["vs_floor"] = per_layer / (static_cast<double>(bytes) / CopyCeiling());
}

// Args: dtype. x (2048, 8192) · w (28672, 8192)ᵀ.
void BM_PrefillGemm(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  if (SkipWithoutFp8(state, dtype)) return;
  constexpr int64_t kTokens = 2048;
  const Matrix m{"gate", kMlp, kHidden};
  DeviceMatrix w = MakeMatrix(m, dtype, 1);
  DeviceBuffer x = Alloc(static_cast<size_t>(kTokens * kHidden) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(kTokens * kMlp) * 4, 0);
  const auto run = [&] {
    Gpu().MatMul(F32(x, kTokens, kHidden), w.views[0], F32(out, kTokens, kMlp));
  };
  run();  // the first call picks the cuBLASLt algorithm
  Gpu().Synchronize();
  const double seconds = TimeIterations(state, run);
  const double flops = 2.0 * kTokens * kHidden * kMlp;
  state.SetLabel(std::string(DTypeName(dtype)) + " 2048x8192x28672");
  state.counters["TFLOPs"] = flops * state.iterations() / seconds / 1e12;
}

// One token per sequence attending to kv_len positions. Args: kv_len, sequences.
void BM_AttentionDecode(benchmark::State& state) {
  const int32_t kv_len = static_cast<int32_t>(state.range(0));
  const int32_t seqs = static_cast<int32_t>(state.range(1));
  const int64_t rows = int64_t{seqs} * kv_len;
  DeviceBuffer k = Alloc(static_cast<size_t>(rows * kKvDim) * 4, 0);
  DeviceBuffer v = Alloc(static_cast<size_t>(rows * kKvDim) * 4, 0);
  DeviceBuffer q = Alloc(static_cast<size_t>(seqs * kQDim) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(seqs * kQDim) * 4, 0);
  const KvLayer cache{F32(k, rows, kKvDim), F32(v, rows, kKvDim), kv_len};
  BatchLayout batch;
  const int32_t id = 1;
  for (int32_t s = 0; s < seqs; ++s) batch.Add(s, kv_len - 1, &id, 1);
  Gpu().BeginBatch(batch);
  const AttentionShape shape{kHeads, kKvHeads, kHeadDim};
  const double seconds = TimeIterations(
      state, [&] { Gpu().Attention(F32(q, seqs, kQDim), cache, shape, F32(out, seqs, kQDim)); });
  const double kv_bytes = 2.0 * static_cast<double>(rows * kKvDim) * 4;
  state.SetLabel("kv_len=" + std::to_string(kv_len) + " seqs=" + std::to_string(seqs));
  state.counters["KV_GBps"] = kv_bytes * state.iterations() / seconds / 1e9;
}

// One sequence prefilling `tokens` positions from 0. Args: tokens.
void BM_AttentionPrefill(benchmark::State& state) {
  const int32_t tokens = static_cast<int32_t>(state.range(0));
  DeviceBuffer k = Alloc(static_cast<size_t>(tokens * kKvDim) * 4, 0);
  DeviceBuffer v = Alloc(static_cast<size_t>(tokens * kKvDim) * 4, 0);
  DeviceBuffer q = Alloc(static_cast<size_t>(tokens * kQDim) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(tokens * kQDim) * 4, 0);
  const KvLayer cache{F32(k, tokens, kKvDim), F32(v, tokens, kKvDim), tokens};
  std::vector<int32_t> ids(static_cast<size_t>(tokens), 1);
  BatchLayout batch;
  batch.Add(0, 0, ids.data(), tokens);
  Gpu().BeginBatch(batch);
  const AttentionShape shape{kHeads, kKvHeads, kHeadDim};
  const double seconds = TimeIterations(state, [&] {
    Gpu().Attention(F32(q, tokens, kQDim), cache, shape, F32(out, tokens, kQDim));
  });
  // Causal: half of the T x T score and value products, 2 FLOPs per multiply-add each.
  const double flops = 4.0 * kHeads * kHeadDim * (static_cast<double>(tokens) * (tokens + 1) / 2);
  state.SetLabel("tokens=" + std::to_string(tokens));
  state.counters["TFLOPs"] = flops * state.iterations() / seconds / 1e12;
}

BENCHMARK(BM_DeviceCopy)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeGemv)
    ->ArgsProduct({{0, 1}, {0, 1, 2, 3, 4, 5, 6}, {1, 4, 16}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeLayer)
    ->ArgsProduct({{0, 1}, {1, 4, 16}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PrefillGemm)->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AttentionDecode)
    ->Args({256, 1})
    ->Args({4096, 1})
    ->Args({32768, 1})
    ->Args({256, 16})
    ->Args({4096, 16})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionPrefill)->Arg(2048)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace strata

BENCHMARK_MAIN();
