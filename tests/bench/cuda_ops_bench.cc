// Google Benchmark of the CUDA backend's hot ops on Llama 3.1 70B shapes, timed with
// cudaEvents on the compute stream (manual time):
//  * BM_ReadCeiling: a read-only kernel over 1 GiB, bytes read per second — the HBM ceiling
//    the GEMVs are compared with (measured once, in this run). BM_DeviceCopy: device-to-
//    device cudaMemcpy, bytes read + written per second, for reference.
//  * BM_DecodeGemv: MatMul of 1..16 rows against one weight matrix of a 70B layer (bf16,
//    fp8, int4 with groups of 128, and 32 and 64 for some), in weight bytes per second (int4:
//    codes plus group scales and zero points) and as a fraction of the read ceiling. Copies
//    of the matrix are rotated so each call streams from HBM, not L2.
//  * BM_GemvSplitSweep: the grouped GEMV kernel alone on a layer's four weight groups, for
//    several split sizes (GemvWorkspace::split_bytes): how kGemvSplitBytes was chosen.
//  * BM_DecodeLayer (bf16, fp8, int4): a layer's decode GEMVs as the engine issues them (q/k/v and gate/up
//    through MatMulShared, o and down through MatMul); `vs_read_floor` = time / (weight bytes
//    / read ceiling), the goal being <= 1.2 (`vs_copy_floor`: the same against the copy
//    ceiling).
//  * BM_EngineDecodeLayer: one whole decode layer of LlamaModel (norms, RoPE, KV store,
//    attention over 256+ cached positions, residual adds included) for 1..16 sequences of a
//    token each, timed between the layer observer's calls, against the same floor. BM_EnginePrefillLayer: the same layer
//    prefilling 2048 tokens, in TFLOP/s (compare BM_PrefillGemm).
//  * BM_PrefillGemm: 2048 x 8192 x 28672 (bf16; fp8 as W8A16 and as W8A8), TFLOP/s, the
//    activation and weight conversions included. BM_PrefillGemmShapes: every 70B projection
//    with 2048 tokens, bf16 and int4 (dequantised to bf16 blocks, then cuBLASLt).
//  * BM_AttentionDecode / BM_AttentionPrefill: 64 heads, 8 KV heads, head_dim 128.
// Run: strata_cuda_bench [--benchmark_filter=...]. Thread-safety: single-threaded.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/backend/cuda/cuda_backend.h"
#include "common/backend/cuda/gemv.h"
#include "common/backend/device_check.h"
#include "common/engine/llama_model.h"
#include "tests/bench/read_ceiling.h"

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

cuda::CudaBackend& Gpu() {
  static std::unique_ptr<cuda::CudaBackend> gpu = [] {
    StatusOr<std::unique_ptr<cuda::CudaBackend>> b = cuda::CudaBackend::Create(0);
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

int SmCount() {
  int device = 0, sms = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  STRATA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

// Times `body(stream)` on a private stream with cudaEvents; the best of `reps`, in ms.
template <typename Body>
float BestMs(int reps, Body&& body) {
  cudaStream_t stream;
  cudaEvent_t start, end;
  STRATA_CUDA_CHECK(cudaStreamCreate(&stream));
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&end));
  float best = 1e30f;
  for (int i = 0; i < reps; ++i) {
    STRATA_CUDA_CHECK(cudaEventRecord(start, stream));
    body(stream);
    STRATA_CUDA_CHECK(cudaEventRecord(end, stream));
    STRATA_CUDA_CHECK(cudaEventSynchronize(end));
    float ms = 0.0f;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
    best = std::min(best, ms);
  }
  STRATA_CUDA_CHECK(cudaEventDestroy(start));
  STRATA_CUDA_CHECK(cudaEventDestroy(end));
  STRATA_CUDA_CHECK(cudaStreamDestroy(stream));
  return best;
}

// Read-only bandwidth over 1 GiB (bytes read per second), the best of 20, measured once.
double ReadCeiling() {
  static const double ceiling = [] {
    constexpr size_t kBytes = size_t{1} << 30;
    DeviceBuffer a = Alloc(kBytes, 1);
    const int blocks = 4 * SmCount();
    DeviceBuffer sink = Alloc(static_cast<size_t>(blocks) * sizeof(uint32_t), 0);
    const float ms = BestMs(20, [&](cudaStream_t stream) {
      bench::LaunchReadAll(a.get(), kBytes, blocks, reinterpret_cast<uint32_t*>(sink.get()),
                           stream);
    });
    return kBytes / (ms / 1e3);
  }();
  return ceiling;
}

void BM_ReadCeiling(benchmark::State& state) {
  for (auto _ : state) state.SetIterationTime(1.0);
  state.counters["read_GBps"] = ReadCeiling() / 1e9;
  state.counters["copy_GBps"] = CopyCeiling() / 1e9;
}

void BM_DeviceCopy(benchmark::State& state) {
  constexpr size_t kBytes = size_t{1} << 30;
  DeviceBuffer a = Alloc(kBytes, 1), b = Alloc(kBytes, 2);
  TimeIterations(state,
                 [&] { Gpu().CopyToDeviceAsync(b.get(), a.get(), kBytes, Stream::kCompute); });
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * 2 * kBytes));
  state.counters["ceiling_GBps"] = CopyCeiling() / 1e9;
}

// 0 bf16, 1 fp8, 2 int4 (groups of kInt4Group unless an argument says).
DType DTypeArg(int64_t arg) {
  return arg == 0 ? DType::kBF16 : arg == 1 ? DType::kF8E4M3 : DType::kU4;
}
constexpr int64_t kInt4Group = 128;

// Bytes a (rows, cols) weight in `dtype` streams: its elements, and an int4 weight's group
// scales and zero points (bf16, (rows, cols / group_size) each) after its codes.
size_t MatrixBytes(int64_t rows, int64_t cols, DType dtype, int64_t group_size = kInt4Group) {
  size_t bytes = DTypeBytes(dtype, rows * cols);
  if (dtype == DType::kU4) bytes += 2 * static_cast<size_t>(rows * (cols / group_size)) * 2;
  return bytes;
}

// The weight whose MatrixBytes start at `p`; fp8 takes `scales` (rows).
WeightView ViewAt(const std::byte* p, int64_t rows, int64_t cols, DType dtype,
                  const float* scales, int64_t group_size = kInt4Group) {
  WeightView w{p, dtype, rows, cols, dtype == DType::kF8E4M3 ? scales : nullptr};
  if (dtype == DType::kU4) {
    const auto* groups = reinterpret_cast<const uint16_t*>(p + DTypeBytes(dtype, rows * cols));
    w.group_scales = groups;
    w.group_zeros = groups + rows * (cols / group_size);
    w.group_size = group_size;
  }
  return w;
}

// Weights of `m` in `dtype` (a fill of small finite values: bf16 0x3c3c ~ 0.011, e4m3 1.5,
// int4 codes 12 and 3 with scales and zero points 0.011) with unit fp8 scales; `copies`
// back-to-back copies to rotate through.
struct DeviceMatrix {
  DeviceBuffer bytes, scales;
  std::vector<WeightView> views;
};

DeviceMatrix MakeMatrix(const Matrix& m, DType dtype, int copies,
                        int64_t group_size = kInt4Group) {
  DeviceMatrix d;
  const size_t one = MatrixBytes(m.rows, m.cols, dtype, group_size);
  d.bytes = Alloc(one * static_cast<size_t>(copies), 0x3c);
  std::vector<float> ones(static_cast<size_t>(m.rows), 1.0f);
  d.scales = Alloc(ones.size() * sizeof(float), 0);
  Gpu().CopyToDevice(d.scales.get(), ones.data(), ones.size() * sizeof(float));
  for (int i = 0; i < copies; ++i) {
    d.views.push_back(ViewAt(d.bytes.get() + one * static_cast<size_t>(i), m.rows, m.cols, dtype,
                             reinterpret_cast<const float*>(d.scales.get()), group_size));
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

// Args: dtype (0 bf16, 1 fp8, 2 int4), matrix index in kLayer, rows of x, and for int4 the
// group size (default kInt4Group). int4 bytes are the codes plus the group scales and zeros.
void BM_DecodeGemv(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const Matrix& m = kLayer[state.range(1)];
  const int64_t rows = state.range(2);
  const int64_t group_size = state.range(3);
  if (SkipWithoutFp8(state, dtype)) return;
  const size_t bytes = MatrixBytes(m.rows, m.cols, dtype, group_size);
  const int copies = static_cast<int>(std::max<size_t>(1, kRotateBytes / bytes));
  DeviceMatrix w = MakeMatrix(m, dtype, copies, group_size);
  DeviceBuffer x = Alloc(static_cast<size_t>(rows * m.cols) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(rows * m.rows) * 4, 0);
  int next = 0;
  const double seconds = TimeIterations(state, [&] {
    Gpu().MatMul(F32(x, rows, m.cols), w.views[static_cast<size_t>(next)], F32(out, rows, m.rows));
    next = (next + 1) % copies;
  });
  const double rate = static_cast<double>(bytes) * state.iterations() / seconds;
  state.SetLabel(std::string(DTypeName(dtype)) +
                 (dtype == DType::kU4 ? " g" + std::to_string(group_size) : std::string()) + " " +
                 m.name + " " + std::to_string(m.rows) + "x" + std::to_string(m.cols) +
                 " rows=" + std::to_string(rows));
  state.counters["GBps"] = rate / 1e9;
  state.counters["of_read_ceiling"] = rate / ReadCeiling();
}

// A layer's weights grouped as the engine multiplies them: {q, k, v}, {o}, {gate, up}, {down}.
struct Group {
  const char* name;
  std::vector<int64_t> rows;
  int64_t cols;
};
const Group kGroups[] = {{"qkv", {kQDim, kKvDim, kKvDim}, kHidden},
                         {"o", {kHidden}, kQDim},
                         {"gate_up", {kMlp, kMlp}, kHidden},
                         {"down", {kHidden}, kMlp}};

// Args: dtype, group index in kGroups, split KiB. One row of x; LaunchGemvMma alone (its
// bf16 input is already there), copies rotated past L2.
void BM_GemvSplitSweep(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const Group& group = kGroups[state.range(1)];
  if (SkipWithoutFp8(state, dtype)) return;
  int64_t n = 0;
  for (int64_t r : group.rows) n += r;
  const size_t row_bytes = static_cast<size_t>(group.cols) * DTypeSize(dtype);
  const size_t bytes = static_cast<size_t>(n) * row_bytes;
  const int copies = static_cast<int>(std::max<size_t>(1, kRotateBytes / bytes));
  DeviceBuffer w = Alloc(bytes * static_cast<size_t>(copies), 0x3c);
  DeviceBuffer scales = Alloc(static_cast<size_t>(n) * sizeof(float), 0x3c);
  DeviceBuffer x = Alloc(static_cast<size_t>(group.cols) * 2, 0x3c);
  DeviceBuffer out = Alloc(static_cast<size_t>(n) * sizeof(float), 0);
  constexpr size_t kPartialFloats = size_t{4} << 20;
  DeviceBuffer partials = Alloc(kPartialFloats * sizeof(float), 0);
  const cuda::GemvWorkspace workspace{reinterpret_cast<float*>(partials.get()), kPartialFloats,
                                      SmCount(), state.range(2) << 10};
  std::vector<std::vector<cuda::GemvTarget>> targets(static_cast<size_t>(copies));
  for (int c = 0; c < copies; ++c) {
    int64_t row = 0;
    for (int64_t r : group.rows) {
      targets[static_cast<size_t>(c)].push_back(cuda::GemvTarget{
          w.get() + bytes * static_cast<size_t>(c) + static_cast<size_t>(row) * row_bytes,
          dtype == DType::kF8E4M3 ? reinterpret_cast<const float*>(scales.get()) + row : nullptr,
          {}, r, reinterpret_cast<float*>(out.get()) + row});
      row += r;
    }
  }
  const auto* xb = reinterpret_cast<const __nv_bfloat16*>(x.get());
  cudaStream_t stream;
  cudaEvent_t start, end;
  STRATA_CUDA_CHECK(cudaStreamCreate(&stream));
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&end));
  int next = 0;
  double seconds = 0.0;
  for (auto _ : state) {
    STRATA_CUDA_CHECK(cudaEventRecord(start, stream));
    const std::vector<cuda::GemvTarget>& t = targets[static_cast<size_t>(next)];
    cuda::LaunchGemvMma(xb, dtype, 1, group.cols, t.data(), t.size(), workspace, stream);
    STRATA_CUDA_CHECK(cudaEventRecord(end, stream));
    STRATA_CUDA_CHECK(cudaEventSynchronize(end));
    float ms = 0.0f;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
    state.SetIterationTime(ms / 1e3);
    seconds += ms / 1e3;
    next = (next + 1) % copies;
  }
  STRATA_CUDA_CHECK(cudaEventDestroy(start));
  STRATA_CUDA_CHECK(cudaEventDestroy(end));
  STRATA_CUDA_CHECK(cudaStreamDestroy(stream));
  const cuda::GemvPlan plan =
      cuda::PlanGemvMma(dtype, 1, group.cols, targets[0].data(), targets[0].size(), workspace);
  const double rate = static_cast<double>(bytes) * state.iterations() / seconds;
  state.SetLabel(std::string(DTypeName(dtype)) + " " + group.name + " split " +
                 std::to_string(state.range(2)) + " KiB");
  state.counters["GBps"] = rate / 1e9;
  state.counters["of_read_ceiling"] = rate / ReadCeiling();
  state.counters["splits"] = static_cast<double>(plan.splits);
  state.counters["blocks"] = static_cast<double>(plan.tiles * plan.splits);
  state.counters["blocks_per_sm"] = plan.blocks_per_sm;
}

// Args: dtype, rows. A layer's seven matrices, back to back in one buffer, multiplied as
// RunLayer does: MatMulShared for q/k/v and gate/up, MatMul for o and down.
void BM_DecodeLayer(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const int64_t rows = state.range(1);
  if (SkipWithoutFp8(state, dtype)) return;
  size_t bytes = 0;
  for (const Matrix& m : kLayer) bytes += MatrixBytes(m.rows, m.cols, dtype);
  DeviceBuffer weights = Alloc(bytes, 0x3c);
  DeviceBuffer scales = Alloc(static_cast<size_t>(kMlp) * sizeof(float), 0x3c);
  std::vector<WeightView> w;
  size_t offset = 0;
  for (const Matrix& m : kLayer) {
    w.push_back(ViewAt(weights.get() + offset, m.rows, m.cols, dtype,
                       reinterpret_cast<const float*>(scales.get())));
    offset += MatrixBytes(m.rows, m.cols, dtype);
  }
  DeviceBuffer x = Alloc(static_cast<size_t>(rows * kMlp) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(rows * 2 * kMlp) * 4, 0);
  auto* o = reinterpret_cast<float*>(out.get());
  const Tensor xh = F32(x, rows, kHidden), xm = F32(x, rows, kMlp);
  const Tensor q{out.get(), DType::kF32, rows, kQDim};
  const Tensor k{reinterpret_cast<std::byte*>(o + rows * kQDim), DType::kF32, rows, kKvDim};
  const Tensor v{reinterpret_cast<std::byte*>(o + rows * (kQDim + kKvDim)), DType::kF32, rows,
                 kKvDim};
  const Tensor gate{out.get(), DType::kF32, rows, kMlp};
  const Tensor up{reinterpret_cast<std::byte*>(o + rows * kMlp), DType::kF32, rows, kMlp};
  const Tensor proj{out.get(), DType::kF32, rows, kHidden};
  const MatMulTarget qkv[] = {{&w[0], q}, {&w[1], k}, {&w[2], v}};
  const MatMulTarget gate_up[] = {{&w[4], gate}, {&w[5], up}};
  const double seconds = TimeIterations(state, [&] {
    Gpu().MatMulShared(xh, qkv);
    Gpu().MatMul(xh, w[3], proj);
    Gpu().MatMulShared(xh, gate_up);
    Gpu().MatMul(xm, w[6], proj);
  });
  const double per_layer = seconds / static_cast<double>(state.iterations());
  state.SetLabel(std::string(DTypeName(dtype)) + " rows=" + std::to_string(rows) + ", " +
                 std::to_string(bytes >> 20) + " MiB of weights");
  state.counters["GBps"] = static_cast<double>(bytes) / per_layer / 1e9;
  state.counters["vs_read_floor"] = per_layer / (static_cast<double>(bytes) / ReadCeiling());
  state.counters["vs_copy_floor"] = per_layer / (static_cast<double>(bytes) / CopyCeiling());
}

// A two-layer LlamaModel of 70B layer shapes (vocabulary 256) with resident weights of
// `dtype` (a fill of small finite values) and one KV slot, and the events its layer observer
// records on the compute stream after layers 0 and 1: layer 1's time lies between them.
struct EngineBench {
  std::vector<DeviceBuffer> buffers;  // the weights
  size_t layer_bytes = 0;             // one layer's weight bytes
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<BackendEvent> after_layer0, after_layer1;
  std::vector<int32_t> slots;  // every KV slot, acquired
  int32_t slot = 0;            // slots[0]

  double Layer1Seconds() { return Gpu().ElapsedMs(*after_layer0, *after_layer1) / 1e3; }
  void Run(const BatchLayout& batch) {
    std::vector<float> logits;
    const Status status = model->Forward(batch, LogitsMode::kLastToken, &logits);
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      std::abort();
    }
  }
  void Forward(int32_t start, const int32_t* ids, int32_t n) {
    BatchLayout batch;
    batch.Add(slot, start, ids, n);
    Run(batch);
  }
};

StatusOr<std::unique_ptr<EngineBench>> MakeEngineBench(DType dtype, int32_t max_batch_tokens,
                                                       int32_t max_seq_len, int32_t kv_slots = 1) {
  auto bench = std::make_unique<EngineBench>();
  ModelConfig config;
  config.architecture = "LlamaForCausalLM";
  config.hidden_size = kHidden;
  config.intermediate_size = kMlp;
  config.num_layers = 2;
  config.num_heads = kHeads;
  config.num_kv_heads = kKvHeads;
  config.head_dim = kHeadDim;
  config.vocab_size = 256;
  config.max_position_embeddings = 131072;
  config.rope_theta = 500000.0;
  const auto bf16_view = [](const std::byte* b, int64_t rows, int64_t cols) {
    return WeightView{b, DType::kBF16, rows, cols, nullptr};
  };
  std::vector<DeviceBuffer>& buffers = bench->buffers;
  buffers.push_back(Alloc(static_cast<size_t>(config.vocab_size * kHidden) * 2, 0x3c));
  const std::byte* embed = buffers.back().get();
  buffers.push_back(Alloc(static_cast<size_t>(kHidden) * 2, 0x3c));
  const std::byte* norm = buffers.back().get();
  buffers.push_back(Alloc(static_cast<size_t>(kMlp) * sizeof(float), 0x3c));
  const auto* scales = reinterpret_cast<const float*>(buffers.back().get());
  LlamaWeights weights;
  weights.embed = bf16_view(embed, config.vocab_size, kHidden);
  weights.final_norm = bf16_view(norm, 1, kHidden);
  weights.lm_head = weights.embed;
  for (int64_t l = 0; l < config.num_layers; ++l) {
    bench->layer_bytes = 0;
    for (const Matrix& m : kLayer) bench->layer_bytes += MatrixBytes(m.rows, m.cols, dtype);
    buffers.push_back(Alloc(bench->layer_bytes, 0x3c));
    LlamaLayerWeights lw;
    lw.attn_norm = lw.mlp_norm = bf16_view(norm, 1, kHidden);
    WeightView* views[] = {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down};
    size_t offset = 0;
    for (size_t i = 0; i < std::size(kLayer); ++i) {
      const Matrix& m = kLayer[i];
      *views[i] = ViewAt(buffers.back().get() + offset, m.rows, m.cols, dtype, scales);
      offset += MatrixBytes(m.rows, m.cols, dtype);
    }
    weights.layers.push_back(lw);
  }
  ServingLimits options;
  options.max_batch_tokens = max_batch_tokens;
  options.max_seq_len = max_seq_len;
  options.kv_slots = kv_slots;
  STRATA_ASSIGN_OR_RETURN(bench->model,
                          LlamaModel::CreateResident(Gpu(), config, std::move(weights), options));
  bench->after_layer0 = Gpu().CreateEvent();
  bench->after_layer1 = Gpu().CreateEvent();
  EngineBench* b = bench.get();
  bench->model->set_layer_observer([b](int32_t layer, Tensor) {
    if (layer == 0) Gpu().RecordEvent(*b->after_layer0, Stream::kCompute);
    if (layer == 1) Gpu().RecordEvent(*b->after_layer1, Stream::kCompute);
  });
  for (int32_t i = 0; i < kv_slots; ++i) bench->slots.push_back(*bench->model->kv_cache().Acquire());
  bench->slot = bench->slots[0];
  return bench;
}

// Args: dtype, sequences S. One decode step of S sequences (a token each, as the cluster's
// batched decode runs them) per iteration over 256..287 cached positions each (the caches
// are refilled by 256-token prefills, untimed, every 32 steps); layer 1's time.
void BM_EngineDecodeLayer(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const auto seqs = static_cast<int32_t>(state.range(1));
  if (SkipWithoutFp8(state, dtype)) return;
  constexpr int32_t kPrompt = 256, kSteps = 32;
  StatusOr<std::unique_ptr<EngineBench>> made =
      MakeEngineBench(dtype, kPrompt, kPrompt + kSteps, seqs);
  if (!made.ok()) {
    state.SkipWithError(made.status().ToString().c_str());
    return;
  }
  EngineBench& e = **made;
  KvCache& cache = e.model->kv_cache();
  const std::vector<int32_t> prompt(kPrompt, 7);
  double seconds = 0.0;
  for (auto _ : state) {
    if (cache.length(e.slot) == 0 || cache.length(e.slot) == kPrompt + kSteps) {
      for (int32_t slot : e.slots) {
        cache.Release(slot);
        STRATA_CHECK(*cache.Acquire() == slot);
        BatchLayout fill;
        fill.Add(slot, 0, prompt.data(), kPrompt);
        e.Run(fill);
      }
    }
    BatchLayout step;
    for (int32_t slot : e.slots) step.Add(slot, cache.length(slot), prompt.data(), 1);
    e.Run(step);
    const double s = e.Layer1Seconds();
    state.SetIterationTime(s);
    seconds += s;
  }
  const double per_layer = seconds / static_cast<double>(state.iterations());
  const double bytes = static_cast<double>(e.layer_bytes);
  state.SetLabel(std::string(DTypeName(dtype)) + " " + std::to_string(seqs) +
                 " sequence(s) x 1 token, KV 256..287, " + std::to_string(e.layer_bytes >> 20) +
                 " MiB of weights");
  state.counters["vs_read_floor"] = per_layer / (bytes / ReadCeiling());
  state.counters["vs_copy_floor"] = per_layer / (bytes / CopyCeiling());
}

// Args: dtype. A 2048-token prefill from position 0 per iteration; layer 1's time, in TFLOP/s
// (the seven projections and causal attention) — compare BM_PrefillGemm in the same run.
void BM_EnginePrefillLayer(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  if (SkipWithoutFp8(state, dtype)) return;
  constexpr int32_t kTokens = 2048;
  StatusOr<std::unique_ptr<EngineBench>> made = MakeEngineBench(dtype, kTokens, kTokens);
  if (!made.ok()) {
    state.SkipWithError(made.status().ToString().c_str());
    return;
  }
  EngineBench& e = **made;
  KvCache& cache = e.model->kv_cache();
  const std::vector<int32_t> prompt(kTokens, 7);
  double seconds = 0.0;
  for (auto _ : state) {
    cache.Release(e.slot);
    STRATA_CHECK(*cache.Acquire() == e.slot);
    e.Forward(0, prompt.data(), kTokens);
    const double s = e.Layer1Seconds();
    state.SetIterationTime(s);
    seconds += s;
  }
  const double t = kTokens;
  const double params = 2.0 * kQDim * kHidden + 2.0 * kKvDim * kHidden + 3.0 * kMlp * kHidden;
  const double flops = 2.0 * t * params + 2.0 * kQDim * t * (t + 1.0);
  state.SetLabel(std::string(DTypeName(dtype)) + " 2048 tokens from position 0");
  state.counters["TFLOPs"] = flops * static_cast<double>(state.iterations()) / seconds / 1e12;
}

// Args: 0 bf16, 1 fp8 W8A16 (the default), 2 fp8 W8A8. x (2048, 8192) · w (28672, 8192)ᵀ.
void BM_PrefillGemm(benchmark::State& state) {
  const DType dtype = DTypeArg(std::min<int64_t>(state.range(0), 1));
  const cuda::Fp8Prefill mode = state.range(0) == 2 ? cuda::Fp8Prefill::kFp8Activations
                                                    : cuda::Fp8Prefill::kBf16Activations;
  if (SkipWithoutFp8(state, dtype)) return;
  constexpr int64_t kTokens = 2048;
  const Matrix m{"gate", kMlp, kHidden};
  DeviceMatrix w = MakeMatrix(m, dtype, 1);
  DeviceBuffer x = Alloc(static_cast<size_t>(kTokens * kHidden) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(kTokens * kMlp) * 4, 0);
  Gpu().set_fp8_prefill(mode);
  const auto run = [&] {
    Gpu().MatMul(F32(x, kTokens, kHidden), w.views[0], F32(out, kTokens, kMlp));
  };
  run();  // the first call picks the cuBLASLt algorithm
  Gpu().Synchronize();
  const double seconds = TimeIterations(state, run);
  Gpu().set_fp8_prefill(cuda::Fp8Prefill::kBf16Activations);
  const double flops = 2.0 * kTokens * kHidden * kMlp;
  state.SetLabel(std::string(DTypeName(dtype)) +
                 (dtype == DType::kF8E4M3
                      ? (mode == cuda::Fp8Prefill::kFp8Activations ? " W8A8" : " W8A16")
                      : "") +
                 " 2048x8192x28672");
  state.counters["TFLOPs"] = flops * state.iterations() / seconds / 1e12;
}

// Args: dtype (0 bf16, 2 int4), matrix index in kLayer. x (2048, cols) · w (rows, cols)ᵀ
// through MatMul: the 70B projections' prefill GEMMs, int4 dequantised to bf16 blocks
// included — compare each int4 shape with bf16's.
void BM_PrefillGemmShapes(benchmark::State& state) {
  const DType dtype = DTypeArg(state.range(0));
  const Matrix& m = kLayer[state.range(1)];
  constexpr int64_t kTokens = 2048;
  DeviceMatrix w = MakeMatrix(m, dtype, 1);
  DeviceBuffer x = Alloc(static_cast<size_t>(kTokens * m.cols) * 4, 0);
  DeviceBuffer out = Alloc(static_cast<size_t>(kTokens * m.rows) * 4, 0);
  const auto run = [&] {
    Gpu().MatMul(F32(x, kTokens, m.cols), w.views[0], F32(out, kTokens, m.rows));
  };
  run();  // the first call picks the cuBLASLt algorithm
  Gpu().Synchronize();
  const double seconds = TimeIterations(state, run);
  const double flops = 2.0 * kTokens * static_cast<double>(m.rows * m.cols);
  state.SetLabel(std::string(DTypeName(dtype)) + " " + m.name + " 2048x" + std::to_string(m.cols) +
                 "x" + std::to_string(m.rows));
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

BENCHMARK(BM_ReadCeiling)->Iterations(1)->UseManualTime();
BENCHMARK(BM_DeviceCopy)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeGemv)
    ->ArgsProduct({{0, 1, 2}, {0, 1, 2, 3, 4, 5, 6}, {1, 4, 16}, {kInt4Group}})
    ->ArgsProduct({{2}, {0, 3, 4, 6}, {1, 16}, {32, 64}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GemvSplitSweep)
    ->ArgsProduct({{0, 1}, {0, 1, 2, 3}, {16, 32, 64, 128, 256, 1 << 20}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeLayer)
    ->ArgsProduct({{0, 1, 2}, {1, 4, 16}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EngineDecodeLayer)
    ->ArgsProduct({{0, 1, 2}, {1, 2, 4, 8, 16}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EnginePrefillLayer)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrefillGemm)->Arg(0)->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PrefillGemmShapes)
    ->ArgsProduct({{0, 2}, {0, 1, 3, 4, 6}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
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
