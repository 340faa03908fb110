// CudaBackend (see cuda_backend.h): device setup, memory, streams and events, the batch
// tables, and each op's checks and launch.
#include "common/backend/cuda/cuda_backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

#include "common/backend/cuda/attention.h"
#include "common/backend/cuda/batch_rows.h"
#include "common/backend/cuda/create_cuda_backend.h"
#include "common/backend/cuda/elementwise_ops.h"
#include "common/backend/cuda/gemm_convert.h"
#include "common/backend/cuda/gemv.h"
#include "common/backend/device_check.h"
#include "common/util/direct_io.h"
#include "common/util/hex.h"

namespace strata::cuda {
namespace {

constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;
constexpr size_t kActScratchBytes = size_t{128} << 20;  // a 2048-token SwiGLU output in bf16
constexpr size_t kWeightScratchBytes = size_t{64} << 20;
// Weight rows widened at a time are a multiple of this: whole GEMM tiles of the output.
constexpr int64_t kWidenBlockRows = 256;
// x of a GEMV gathered into an act-order int4 weight's column order: kGemvMaxRows rows of
// up to 64 Ki columns in bf16 (wider K takes the generic GEMV).
constexpr size_t kPermScratchBytes = size_t{2} << 20;
constexpr int64_t kMaxGemmRows = 8192;  // rows per cuBLASLt call
constexpr size_t kGemvPartialFloats = size_t{4} << 20;
constexpr size_t kAttnPartialFloats = size_t{4} << 20;
constexpr int64_t kArgMaxRows = 1024;  // rows per ArgMaxRows launch
// Device memory that kernel images loaded on first launch take (measured 12-17 MiB on an
// H200 beyond the buffers; docs/benchmarks.md, placement under budgets).
constexpr size_t kLazyKernelBytes = size_t{32} << 20;
// The batch tables' first size: a verify pass of kMaxTreeRows tree tokens (their masks and
// 5 int32 tables each) with room for its sequences and tiles, so it needs no regrowth.
constexpr size_t kMinBatchTableInts = kMaxTreeRows * (2 * kTreeMaskWords + 8);

std::string MiB(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

void FreeDevice(void* p) {
  const cudaError_t err = cudaFree(p);
  if (err != cudaErrorCudartUnloading) STRATA_CUDA_CHECK(err);
}

void FreePinned(void* p) {
  const cudaError_t err = cudaHostUnregister(p);
  if (err != cudaErrorCudartUnloading) STRATA_CUDA_CHECK(err);
  std::free(p);
}

void FreeAligned(void* p) { std::free(p); }

struct CudaEvent final : BackendEvent {
  cudaEvent_t event = nullptr;
  ~CudaEvent() override { cudaEventDestroy(event); }
};

cudaEvent_t EventOf(BackendEvent& event) { return static_cast<CudaEvent&>(event).event; }

class CudaStream final : public BackendStream {
 public:
  explicit CudaStream(int device) {
    STRATA_CUDA_CHECK(cudaSetDevice(device));
    STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~CudaStream() override {
    cudaStreamSynchronize(stream_);  // what was issued may still use its caller's memory
    cudaStreamDestroy(stream_);
  }
  void* native() const override { return stream_; }
  void Record(BackendEvent& event) override {
    STRATA_CUDA_CHECK(cudaEventRecord(EventOf(event), stream_));
  }
  void Wait(BackendEvent& event) override {
    STRATA_CUDA_CHECK(cudaStreamWaitEvent(stream_, EventOf(event), 0));
  }

 private:
  cudaStream_t stream_ = nullptr;
};

bool AlignedTo(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// Device kernels load whole elements: a weight (and its scales, group scales and zero
// points, column order) must be element-aligned. int4 weights need their groups.
void CheckAligned(const WeightView& w) {
  const size_t element = w.dtype == DType::kU4 ? 1 : DTypeSize(w.dtype);
  STRATA_CHECK_MSG(AlignedTo(w.data, element) && AlignedTo(w.scales, alignof(float)) &&
                       AlignedTo(w.group_scales, alignof(uint16_t)) &&
                       AlignedTo(w.group_zeros, alignof(uint16_t)) &&
                       AlignedTo(w.col_perm, alignof(int32_t)),
                   "a weight in device memory is not aligned to its element size");
  STRATA_CHECK_MSG(w.dtype != DType::kU4 || (w.group_scales != nullptr &&
                                             w.group_zeros != nullptr && w.group_size > 0 &&
                                             w.group_size % 2 == 0 && w.cols % w.group_size == 0),
                   "int4 weights need group scales and zero points, groups dividing the row");
}

U4Groups GroupsOf(const WeightView& w) {
  return U4Groups{w.group_scales, w.group_zeros, w.group_size};
}

}  // namespace

StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device, bool fp8_activations) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return Unavailable(std::string("no usable CUDA device: 0 devices visible (") +
                       cudaGetErrorString(err) +
                       "); check the NVIDIA driver and CUDA_VISIBLE_DEVICES");
  }
  if (device < 0 || device >= count) {
    return Unavailable("CUDA device " + std::to_string(device) +
                       " does not exist: this machine has " + std::to_string(count) +
                       " CUDA device(s), numbered from 0");
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend, CudaBackend::Create(device));
  if (fp8_activations) backend->set_fp8_prefill(Fp8Prefill::kFp8Activations);
  return std::unique_ptr<Backend>(std::move(backend));
}

StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(int device) {
  cudaError_t err = cudaSetDevice(device);
  cudaDeviceProp props{};
  if (err == cudaSuccess) err = cudaGetDeviceProperties(&props, device);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return Unavailable("cannot use CUDA device " + std::to_string(device) + ": " +
                       cudaGetErrorString(err));
  }
  std::unique_ptr<CudaBackend> backend(new CudaBackend(device, props));
  STRATA_RETURN_IF_ERROR(backend->Init());
  return backend;
}

CudaBackend::CudaBackend(int device, const cudaDeviceProp& props)
    : device_(device), sm_count_(props.multiProcessorCount) {
  caps_.name = "cuda:" + std::to_string(device) + " (" + props.name + ")";
  caps_.async_copy = true;
  caps_.pinned_host = true;
  caps_.fp8_weights = props.major * 10 + props.minor >= 89;
  caps_.int4_weights = true;
  // The tree paths of the attention kernels, StoreKv by row and KeepRows' device copies are
  // written and compile, but their GPU tests (CudaAttention.Tree*, CudaForward.Tree*) have
  // not run yet: the engine refuses token trees here until they pass on a GPU.
  caps_.tree_attention = false;
  caps_.memory_bytes = props.totalGlobalMem;
  caps_.device = device;
  caps_.device_id = HexString(std::as_bytes(std::span(props.uuid.bytes)));
}

Status CudaBackend::Init() {
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking));
  STRATA_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_, cudaStreamNonBlocking));
  STRATA_CUDA_CHECK(cudaEventCreateWithFlags(&batch_uploaded_, cudaEventDisableTiming));
  used_at_start_ = 0;
  used_at_start_ = DeviceBytesInUse();
  STRATA_ASSIGN_OR_RETURN(lt_workspace_, Allocate(kLtWorkspaceBytes));
  STRATA_ASSIGN_OR_RETURN(act_scratch_, Allocate(kActScratchBytes));
  STRATA_ASSIGN_OR_RETURN(weight_scratch_, Allocate(kWeightScratchBytes));
  STRATA_ASSIGN_OR_RETURN(row_scales_, Allocate(kMaxGemmRows * sizeof(float)));
  STRATA_ASSIGN_OR_RETURN(gemv_partials_, Allocate(kGemvPartialFloats * sizeof(float)));
  STRATA_ASSIGN_OR_RETURN(perm_scratch_, Allocate(kPermScratchBytes));
  STRATA_ASSIGN_OR_RETURN(attn_partials_, Allocate(kAttnPartialFloats * sizeof(float)));
  STRATA_ASSIGN_OR_RETURN(argmax_dev_, Allocate(kArgMaxRows * sizeof(int32_t)));
  STRATA_ASSIGN_OR_RETURN(argmax_host_, AllocatePinned(kArgMaxRows * sizeof(int32_t)));
  lt_ = std::make_unique<LtMatmul>(lt_workspace_.get(), kLtWorkspaceBytes);
  // What Init took (its buffers, cuBLASLt's handle) as the device reports it, and room for
  // the kernel images CUDA loads lazily at their first launch.
  const size_t buffers = kLtWorkspaceBytes + kActScratchBytes + kWeightScratchBytes +
                         kPermScratchBytes +
                         kMaxGemmRows * sizeof(float) +
                         (kGemvPartialFloats + kAttnPartialFloats) * sizeof(float) +
                         kArgMaxRows * sizeof(int32_t);
  caps_.workspace_bytes = std::max(buffers, DeviceBytesInUse()) + kLazyKernelBytes;
  return OkStatus();
}

size_t CudaBackend::DeviceBytesInUse() {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) return 0;
  const size_t used = total_bytes - free_bytes;
  return used > used_at_start_ ? used - used_at_start_ : 0;
}

void CudaBackend::set_fp8_prefill(Fp8Prefill mode) {
  constexpr std::string_view kSuffix = ", fp8 prefill W8A8";
  std::string& name = caps_.name;
  if (name.size() >= kSuffix.size() && name.ends_with(kSuffix)) name.resize(name.size() - kSuffix.size());
  if (mode == Fp8Prefill::kFp8Activations) name += kSuffix;
  fp8_prefill_ = mode;
}

CudaBackend::~CudaBackend() {
  if (compute_ != nullptr) cudaStreamSynchronize(compute_);
  if (copy_ != nullptr) cudaStreamSynchronize(copy_);
  lt_.reset();
  if (batch_uploaded_ != nullptr) cudaEventDestroy(batch_uploaded_);
  if (copy_ != nullptr) cudaStreamDestroy(copy_);
  if (compute_ != nullptr) cudaStreamDestroy(compute_);
}

// ---- Memory, copies, events ----

StatusOr<DeviceBuffer> CudaBackend::Allocate(size_t bytes) {
  bf16_copy_ = {};  // the new memory may be a freed tensor's
  STRATA_CUDA_CHECK(cudaSetDevice(device_));
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes (" + MiB(bytes) +
                             ") on " + caps_.name + ": " + cudaGetErrorString(err) + ", " +
                             MiB(free_bytes) + " of " + MiB(total_bytes) +
                             " free; lower the context, batch size or GPU-resident layers");
  }
  return DeviceBuffer(static_cast<std::byte*>(p), BufferDeleter{&FreeDevice});
}

StatusOr<DeviceBuffer> CudaBackend::AllocatePinned(size_t bytes) {
  // Page-aligned host memory, then page-locked: cudaHostAlloc may hand out small
  // allocations from a pool at sub-page offsets, and O_DIRECT reads need 4 KiB alignment.
  STRATA_CUDA_CHECK(cudaSetDevice(device_));
  const size_t rounded =
      (std::max<size_t>(bytes, 1) + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
  void* p = std::aligned_alloc(kDirectIoAlignment, rounded);
  if (p == nullptr) {
    return ResourceExhausted("cannot allocate " + std::to_string(bytes) +
                             " bytes of host memory; lower the pinned tier or staging sizes");
  }
  const cudaError_t err = cudaHostRegister(p, rounded, cudaHostRegisterPortable);
  if (err == cudaSuccess) return DeviceBuffer(static_cast<std::byte*>(p), BufferDeleter{&FreePinned});
  cudaGetLastError();
  spdlog::warn(
      "{}: cannot pin {} bytes of host memory ({}); using pageable memory, so copies "
      "from it are slower and do not overlap compute",
      caps_.name, bytes, cudaGetErrorString(err));
  return DeviceBuffer(static_cast<std::byte*>(p), BufferDeleter{&FreeAligned});
}

void CudaBackend::CopyToDevice(void* dst, const void* src, size_t bytes) {
  WroteDevice(dst, bytes);
  STRATA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, compute_));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
}

void CudaBackend::CopyToHost(void* dst, const void* src, size_t bytes) {
  STRATA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, compute_));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
}

void CudaBackend::Synchronize() {
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
  STRATA_CUDA_CHECK(cudaStreamSynchronize(copy_));
}

void CudaBackend::CopyToDeviceAsync(void* dst, const void* src, size_t bytes, Stream stream) {
  WroteDevice(dst, bytes);
  STRATA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, StreamOf(stream)));
}

std::unique_ptr<BackendStream> CudaBackend::CreateStream() {
  return std::make_unique<CudaStream>(device_);
}

std::unique_ptr<BackendEvent> CudaBackend::CreateEvent() {
  auto event = std::make_unique<CudaEvent>();
  STRATA_CUDA_CHECK(cudaEventCreate(&event->event));
  return event;
}

void CudaBackend::RecordEvent(BackendEvent& event, Stream stream) {
  STRATA_CUDA_CHECK(cudaEventRecord(EventOf(event), StreamOf(stream)));
}

void CudaBackend::StreamWaitEvent(Stream stream, BackendEvent& event) {
  STRATA_CUDA_CHECK(cudaStreamWaitEvent(StreamOf(stream), EventOf(event), 0));
}

void CudaBackend::WaitEvent(BackendEvent& event) {
  STRATA_CUDA_CHECK(cudaEventSynchronize(EventOf(event)));
}

bool CudaBackend::EventDone(BackendEvent& event) {
  const cudaError_t err = cudaEventQuery(EventOf(event));
  if (err == cudaErrorNotReady) return false;
  STRATA_CUDA_CHECK(err);
  return true;
}

float CudaBackend::ElapsedMs(BackendEvent& start, BackendEvent& end) {
  float ms = 0.0f;
  STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, EventOf(start), EventOf(end)));
  return ms;
}

// ---- The batch ----

void CudaBackend::ReserveBatchTables(size_t int32s) {
  if (int32s <= batch_capacity_) {
    // The mirror is reused: the previous upload must have read it.
    STRATA_CUDA_CHECK(cudaEventSynchronize(batch_uploaded_));
    return;
  }
  STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));  // nothing still reads the old tables
  const size_t capacity = std::max({int32s, 2 * batch_capacity_, kMinBatchTableInts});
  StatusOr<DeviceBuffer> host = AllocatePinned(capacity * sizeof(int32_t));
  StatusOr<DeviceBuffer> dev = Allocate(capacity * sizeof(int32_t));
  STRATA_CHECK_MSG(host.ok() && dev.ok(), "out of memory for a batch's index tables");
  batch_host_ = std::move(host).value();
  batch_dev_ = std::move(dev).value();
  batch_capacity_ = capacity;
}

void CudaBackend::BeginBatch(const BatchLayout& batch) {
  STRATA_CUDA_CHECK(cudaSetDevice(device_));
  bf16_copy_ = {};
  batch_ = &batch;
  BatchTables& t = tables_;
  t.n_tokens = batch.n_tokens();
  t.n_seqs = static_cast<int64_t>(batch.seqs.size());
  t.num_tiles = 0;
  t.max_seq_tokens = 0;
  t.max_kv_len = 0;
  for (const SeqSpan& s : batch.seqs) {
    STRATA_CHECK_MSG(s.tree_base < 0 || batch.has_tree(), "a tree span without tree masks");
    t.num_tiles += (s.n_tokens + kPrefillTileTokens - 1) / kPrefillTileTokens;
    t.max_seq_tokens = std::max<int64_t>(t.max_seq_tokens, s.n_tokens);
    t.max_kv_len = std::max<int64_t>(t.max_kv_len, int64_t{s.start_pos} + s.n_tokens);
  }
  const bool tree = batch.has_tree();
  const size_t n = static_cast<size_t>(t.n_tokens);
  STRATA_CHECK(!tree || batch.tree_masks.size() == n * kTreeMaskWords);
  const size_t mask_ints = tree ? n * kTreeMaskWords * 2 : 0;
  const size_t token_tables = tree ? 5 : 4;
  const size_t total =
      mask_ints + token_tables * n + static_cast<size_t>(5 * t.n_seqs + 2 * t.num_tiles);
  ReserveBatchTables(total);

  // Host mirror layout: tree masks (T, kTreeMaskWords) uint64 with a tree; then int32:
  // tokens, positions, rows, token_slot (T each), tree_base (T) with a tree, last_token (S),
  // seqs (S, 4), tiles (num_tiles, 2).
  auto* host = reinterpret_cast<int32_t*>(batch_host_.get());
  auto* dev = reinterpret_cast<int32_t*>(batch_dev_.get());
  if (tree) {
    std::copy(batch.tree_masks.begin(), batch.tree_masks.end(),
              reinterpret_cast<uint64_t*>(host));
  }
  int32_t* tokens = host + mask_ints;
  std::copy(batch.tokens.begin(), batch.tokens.end(), tokens);
  std::copy(batch.positions.begin(), batch.positions.end(), tokens + n);
  int32_t* rows = tokens + 2 * n;
  int32_t* token_slot = tokens + 3 * n;
  int32_t* tree_base = tokens + 4 * n;  // with a tree
  int32_t* last_token = tokens + token_tables * n;
  int32_t* seqs = last_token + t.n_seqs;
  int32_t* tiles = seqs + 4 * t.n_seqs;
  for (size_t i = 0; i < batch.seqs.size(); ++i) {
    const SeqSpan& s = batch.seqs[i];
    STRATA_CHECK(s.token_offset >= 0 && s.n_tokens >= 0 &&
                 s.token_offset + s.n_tokens <= t.n_tokens);
    std::fill_n(token_slot + s.token_offset, s.n_tokens, s.kv_slot);
    for (int32_t j = 0; j < s.n_tokens; ++j) {
      const int32_t row = s.start_pos + j;
      rows[s.token_offset + j] = row;
      if (tree) {
        tree_base[s.token_offset + j] =
            s.tree_base >= 0 && row >= s.tree_base ? s.tree_base : kChainTreeBase;
      }
    }
    last_token[i] = s.token_offset + s.n_tokens - 1;
    seqs[4 * i] = s.kv_slot;
    seqs[4 * i + 1] = s.start_pos;
    seqs[4 * i + 2] = s.token_offset;
    seqs[4 * i + 3] = s.n_tokens;
    for (int32_t first = 0; first < s.n_tokens; first += kPrefillTileTokens) {
      *tiles++ = static_cast<int32_t>(i);
      *tiles++ = first;
    }
  }
  if (total > 0) {
    STRATA_CUDA_CHECK(
        cudaMemcpyAsync(dev, host, total * sizeof(int32_t), cudaMemcpyHostToDevice, compute_));
  }
  STRATA_CUDA_CHECK(cudaEventRecord(batch_uploaded_, compute_));
  const int32_t* dev_tokens = dev + mask_ints;
  t.tree_masks = tree ? reinterpret_cast<const uint64_t*>(dev) : nullptr;
  t.tokens = dev_tokens;
  t.positions = dev_tokens + n;
  t.rows = dev_tokens + 2 * n;
  t.token_slot = dev_tokens + 3 * n;
  t.tree_base = tree ? dev_tokens + 4 * n : nullptr;
  t.last_token = dev_tokens + token_tables * n;
  t.seqs = t.last_token + t.n_seqs;
  t.tiles = t.seqs + 4 * t.n_seqs;
}

// ---- bf16 activations for the GEMMs ----

bool CudaBackend::TakeBf16Copy(Tensor x) {
  const Bf16Copy copy = std::exchange(bf16_copy_, Bf16Copy{});
  return copy.data != nullptr && copy.data == x.data && copy.numel == x.numel();
}

__nv_bfloat16* CudaBackend::ProduceBf16Copy(Tensor out) {
  if (out.numel() * sizeof(__nv_bfloat16) > kActScratchBytes) {
    bf16_copy_ = {};
    return nullptr;
  }
  bf16_copy_ = {out.data, out.numel()};
  return Bf16Scratch();
}

const __nv_bfloat16* CudaBackend::Bf16Input(Tensor x, bool* in_scratch) {
  if (!*in_scratch) LaunchToBf16(x.f32(), x.numel(), Bf16Scratch(), compute_);
  *in_scratch = true;
  return Bf16Scratch();
}

void CudaBackend::WroteDevice(const void* dst, size_t bytes) {
  const auto* p = static_cast<const std::byte*>(dst);
  const std::byte* src = bf16_copy_.data;
  if (src != nullptr && p < src + bf16_copy_.numel * sizeof(float) && src < p + bytes) {
    bf16_copy_ = {};
  }
}

// ---- Ops ----

void CudaBackend::Embed(const WeightView& table, Tensor out) {
  bf16_copy_ = {};
  STRATA_CHECK(batch_ != nullptr && out.rows == tables_.n_tokens && out.cols == table.cols);
  CheckAligned(table);
  for (int32_t id : batch_->tokens) STRATA_CHECK(id >= 0 && id < table.rows);
  LaunchEmbed(table.data, table.dtype, table.scales, table.cols, tables_.tokens, out.rows,
              out.f32(), compute_);
}

void CudaBackend::RmsNorm(Tensor x, const WeightView& weight, float eps, Tensor out) {
  STRATA_CHECK(x.cols == weight.numel() && out.rows == x.rows && out.cols == x.cols);
  CheckAligned(weight);
  __nv_bfloat16* out_bf16 = ProduceBf16Copy(out);  // (rows, cols) the next GEMM's input
  switch (weight.dtype) {
    case DType::kF32:
      LaunchRmsNorm(x.f32(), reinterpret_cast<const float*>(weight.data), x.rows, x.cols, eps,
                    out.f32(), out_bf16, compute_);
      return;
    case DType::kBF16:
      LaunchRmsNorm(x.f32(), reinterpret_cast<const __nv_bfloat16*>(weight.data), x.rows, x.cols,
                    eps, out.f32(), out_bf16, compute_);
      return;
    case DType::kF16:
      LaunchRmsNorm(x.f32(), reinterpret_cast<const __half*>(weight.data), x.rows, x.cols, eps,
                    out.f32(), out_bf16, compute_);
      return;
    case DType::kF8E4M3:
    case DType::kU4:
      break;
  }
  STRATA_CHECK_MSG(false, "RmsNorm weights must be fp32, bf16 or fp16");
}

void CudaBackend::MatMul(Tensor x, const WeightView& w, Tensor out) {
  bool x_in_scratch = TakeBf16Copy(x);
  MatMulInto(x, w, out, &x_in_scratch);
}

void CudaBackend::MatMulInto(Tensor x, const WeightView& w, Tensor out, bool* x_in_scratch) {
  STRATA_CHECK(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows);
  STRATA_CHECK_MSG(w.dtype != DType::kF8E4M3 || w.scales != nullptr,
                   "fp8 weights need their per-row scales");
  CheckAligned(w);
  const int64_t m = x.rows, k = w.cols;
  if (m == 0 || w.rows == 0) return;
  // Rows per cuBLASLt call: as many as the converted activations fit in the scratch.
  const bool fp8_activations =
      w.dtype == DType::kF8E4M3 && fp8_prefill_ == Fp8Prefill::kFp8Activations;
  const size_t row_bytes = static_cast<size_t>(k) * (fp8_activations ? 1 : 2);
  const int64_t chunk =
      std::min<int64_t>(kMaxGemmRows, static_cast<int64_t>(kActScratchBytes / row_bytes));
  STRATA_CHECK_MSG(chunk >= kGemvMaxRows, "MatMul K is too large for the conversion scratch");
  // A bf16 x in the scratch serves a single chunk; each of several converts its own rows.
  const bool single = chunk >= m;
  bool in_scratch = *x_in_scratch && single;
  for (int64_t r0 = 0; r0 < m; r0 += chunk) {
    const int64_t rows = std::min(chunk, m - r0);
    if (!single) in_scratch = false;
    Tensor xs = x.Rows(r0, rows), os = out.Rows(r0, rows);
    if (rows > kGemvMaxRows && LtGemm(xs, w, os, &in_scratch)) continue;
    for (int64_t g0 = 0; g0 < rows; g0 += kGemvMaxRows) {
      const int64_t g = std::min(kGemvMaxRows, rows - g0);
      // The groups convert into the scratch's start: x stays whole there only if it was.
      bool group_in_scratch = in_scratch;
      Gemv(xs.Rows(g0, g), in_scratch ? Bf16Scratch() + g0 * k : nullptr, w, os.Rows(g0, g),
           &group_in_scratch);
      in_scratch = in_scratch && group_in_scratch;
    }
  }
  *x_in_scratch = in_scratch && single;
}

bool CudaBackend::GemvMmaTakes(const WeightView& w) const {
  return GemvMmaSupports(w.dtype, w.data, w.cols, w.group_size) &&
         (w.col_perm == nullptr ||
          static_cast<size_t>(kGemvMaxRows * w.cols) * sizeof(__nv_bfloat16) <= kPermScratchBytes);
}

const __nv_bfloat16* CudaBackend::GatherBf16Input(Tensor x, const int32_t* col_perm) {
  auto* xp = reinterpret_cast<__nv_bfloat16*>(perm_scratch_.get());  // (x.rows, x.cols)
  LaunchGatherToBf16(x.f32(), x.rows, x.cols, col_perm, xp, compute_);
  return xp;
}

void CudaBackend::Gemv(Tensor x, const __nv_bfloat16* xb, const WeightView& w, Tensor out,
                       bool* scratch_kept) {
  if (!GemvMmaTakes(w)) {
    LaunchGemvSimple(x.f32(), w.data, w.dtype, w.scales, GroupsOf(w), w.col_perm, x.rows, w.rows,
                     w.cols, out.f32(), compute_);
    return;
  }
  const GemvTarget target{w.data, w.scales, GroupsOf(w), w.rows, out.f32()};
  if (w.col_perm != nullptr) {
    xb = GatherBf16Input(x, w.col_perm);
  } else if (xb == nullptr) {
    bool converted = false;
    xb = Bf16Input(x, &converted);
    *scratch_kept = false;
  }
  GemvMma(xb, x, w.dtype, &target, 1);
}

void CudaBackend::GemvMma(const __nv_bfloat16* xb, Tensor x, DType dtype,
                          const GemvTarget* targets, size_t count) {
  const GemvWorkspace workspace{reinterpret_cast<float*>(gemv_partials_.get()), kGemvPartialFloats,
                                sm_count_};
  LaunchGemvMma(xb, dtype, x.rows, x.cols, targets, count, workspace, compute_);
}

void CudaBackend::MatMulShared(Tensor x, std::span<const MatMulTarget> targets) {
  // One grouped GEMV when the rows are few and the weights alike: same dtype, the tensor-core
  // kernel's layout, and whole 16-row tiles but for the last. Otherwise one MatMul each, on
  // one bf16 conversion of x where the weights take bf16 activations.
  bool x_in_scratch = TakeBf16Copy(x);
  bool grouped = x.rows >= 1 && x.rows <= kGemvMaxRows && !targets.empty() &&
                 targets.size() <= kGemvMaxTargets;
  std::array<GemvTarget, kGemvMaxTargets> gemv{};
  for (size_t i = 0; grouped && i < targets.size(); ++i) {
    const WeightView& w = *targets[i].w;
    const Tensor& out = targets[i].out;
    STRATA_CHECK(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows);
    STRATA_CHECK_MSG(w.dtype != DType::kF8E4M3 || w.scales != nullptr,
                     "fp8 weights need their per-row scales");
    CheckAligned(w);
    const WeightView& first = *targets[0].w;
    grouped = w.dtype == first.dtype && w.rows > 0 && GemvMmaTakes(w) &&
              w.group_size == first.group_size && w.col_perm == first.col_perm &&
              (i + 1 == targets.size() || w.rows % kGemvTileRows == 0);
    gemv[i] = GemvTarget{w.data, w.scales, GroupsOf(w), w.rows, out.f32()};
  }
  if (!grouped) {
    for (const MatMulTarget& t : targets) MatMulInto(x, *t.w, t.out, &x_in_scratch);
    return;
  }
  const int32_t* col_perm = targets[0].w->col_perm;
  const __nv_bfloat16* xb =
      col_perm != nullptr ? GatherBf16Input(x, col_perm) : Bf16Input(x, &x_in_scratch);
  GemvMma(xb, x, targets[0].w->dtype, gemv.data(), targets.size());
}

bool CudaBackend::LtGemm(Tensor x, const WeightView& w, Tensor out, bool* x_in_scratch) {
  if ((w.dtype == DType::kF8E4M3 && fp8_prefill_ == Fp8Prefill::kBf16Activations) ||
      w.dtype == DType::kU4) {
    return LtGemmWidened(x, w, out, x_in_scratch);
  }
  const int64_t m = x.rows, n = w.rows, k = w.cols;
  void* scratch = act_scratch_.get();  // (m, k) converted activations
  auto* row_scales = reinterpret_cast<float*>(row_scales_.get());
  LtInput input = LtInput::kF32;
  const void* b = x.data;
  switch (w.dtype) {
    case DType::kBF16:
      input = LtInput::kBf16;
      b = scratch;
      break;
    case DType::kF16:
      input = LtInput::kF16;
      b = scratch;
      break;
    case DType::kF8E4M3:
      input = LtInput::kE4M3;
      b = scratch;
      break;
    case DType::kF32:
      break;
    case DType::kU4:
      return false;  // taken by LtGemmWidened above
  }
  if (!lt_->Supports(input, m, n, k, n, w.data, b, out.f32(), w.scales, row_scales)) return false;
  switch (input) {
    case LtInput::kBf16:
      Bf16Input(x, x_in_scratch);
      break;
    case LtInput::kF16:
      LaunchToF16(x.f32(), x.numel(), static_cast<__half*>(scratch), compute_);
      *x_in_scratch = false;
      break;
    case LtInput::kE4M3:
      LaunchQuantizeRowsE4M3(x.f32(), m, k, static_cast<__nv_fp8_e4m3*>(scratch), row_scales,
                             compute_);
      *x_in_scratch = false;
      break;
    case LtInput::kF32:
      break;
  }
  const LtResult result =
      lt_->Run(input, m, n, k, n, w.data, b, out.f32(), w.scales, row_scales, compute_);
  if (result == LtResult::kScalesNotApplied) {
    LaunchScaleRowsCols(out.f32(), m, n, row_scales, w.scales, compute_);
  }
  return true;
}

bool CudaBackend::LtGemmWidened(Tensor x, const WeightView& w, Tensor out, bool* x_in_scratch) {
  const int64_t m = x.rows, n = w.rows, k = w.cols;
  __nv_bfloat16* xb = Bf16Scratch();                                   // (m, k)
  auto* wb = reinterpret_cast<__nv_bfloat16*>(weight_scratch_.get());  // (block, k)
  // Weight rows widened at a time: what fits the scratch, whole kWidenBlockRows tiles.
  const int64_t block = std::min<int64_t>(
      n, static_cast<int64_t>(kWeightScratchBytes) / (2 * k) / kWidenBlockRows * kWidenBlockRows);
  if (block == 0) return false;
  // Every block's plan is made before anything is enqueued, so a refusal changes nothing.
  for (int64_t n0 = 0; n0 < n; n0 += block) {
    const int64_t nb = std::min(block, n - n0);
    if (!lt_->Supports(LtInput::kBf16, m, nb, k, n, wb, xb, out.f32() + n0, nullptr, nullptr)) {
      return false;
    }
  }
  Bf16Input(x, x_in_scratch);
  for (int64_t n0 = 0; n0 < n; n0 += block) {
    const int64_t nb = std::min(block, n - n0);
    if (w.dtype == DType::kU4) {
      const int64_t groups = w.groups_per_row();
      const U4Groups rows{w.group_scales + n0 * groups, w.group_zeros + n0 * groups,
                          w.group_size};
      LaunchU4ToBf16(reinterpret_cast<const uint8_t*>(w.data) + n0 * (k / 2), rows, w.col_perm,
                     nb, k, wb, compute_);
    } else {
      LaunchE4M3ToBf16(reinterpret_cast<const __nv_fp8_e4m3*>(w.data) + n0 * k, nb * k, wb,
                       compute_);
    }
    lt_->Run(LtInput::kBf16, m, nb, k, n, wb, xb, out.f32() + n0, nullptr, nullptr, compute_);
  }
  if (w.dtype == DType::kF8E4M3) LaunchScaleRowsCols(out.f32(), m, n, nullptr, w.scales, compute_);
  return true;
}

void CudaBackend::Rope(Tensor x, int64_t head_dim, Tensor inv_freq) {
  bf16_copy_ = {};
  STRATA_CHECK(batch_ != nullptr && x.rows == tables_.n_tokens && x.cols % head_dim == 0);
  STRATA_CHECK(inv_freq.numel() == head_dim / 2);
  LaunchRope(x.f32(), tables_.positions, inv_freq.f32(), x.rows, x.cols / head_dim, head_dim,
             compute_);
}

void CudaBackend::StoreKv(Tensor k, Tensor v, const KvLayer& cache) {
  bf16_copy_ = {};
  STRATA_CHECK(batch_ != nullptr && k.rows == tables_.n_tokens && v.rows == k.rows);
  STRATA_CHECK(k.cols == cache.k.cols && v.cols == cache.v.cols && k.cols == v.cols);
  for (const SeqSpan& s : batch_->seqs) {
    STRATA_CHECK(s.start_pos + s.n_tokens <= cache.max_seq_len);
    STRATA_CHECK(s.kv_slot * cache.max_seq_len + s.start_pos + s.n_tokens <= cache.k.rows);
  }
  LaunchStoreKv(k.f32(), v.f32(), k.rows, k.cols, tables_.token_slot, tables_.rows,
                cache.max_seq_len, cache.k.f32(), cache.v.f32(), compute_);
}

void CudaBackend::Attention(Tensor q, const KvLayer& cache, const AttentionShape& shape,
                            Tensor out) {
  bf16_copy_ = {};
  STRATA_CHECK(batch_ != nullptr && q.rows == tables_.n_tokens);
  STRATA_CHECK(q.cols == shape.num_heads * shape.head_dim && out.rows == q.rows &&
               out.cols == q.cols);
  STRATA_CHECK(cache.k.cols == shape.num_kv_heads * shape.head_dim && cache.v.cols == cache.k.cols);
  STRATA_CHECK(tables_.max_kv_len <= cache.max_seq_len);
  AttentionArgs args;
  args.q = q.f32();
  args.k_cache = cache.k.f32();
  args.v_cache = cache.v.f32();
  args.out = out.f32();
  args.tokens = q.rows;
  args.heads = shape.num_heads;
  args.kv_heads = shape.num_kv_heads;
  args.head_dim = shape.head_dim;
  args.max_seq_len = cache.max_seq_len;
  args.tree_base = tables_.tree_base;
  args.tree_masks = tables_.tree_masks;
  if (tables_.max_seq_tokens <= kDecodeMaxTokens) {
    const AttentionWorkspace workspace{reinterpret_cast<float*>(attn_partials_.get()),
                                       kAttnPartialFloats, sm_count_};
    LaunchAttentionDecode(args, tables_.rows, tables_.token_slot, tables_.max_kv_len,
                          workspace, compute_);
  } else if (AttentionPrefillMmaSupports(args.head_dim) && tables_.num_tiles <= 65535) {
    LaunchAttentionPrefillMma(args, tables_.seqs, tables_.tiles, tables_.num_tiles, compute_);
  } else {
    LaunchAttentionPrefill(args, tables_.seqs, tables_.tiles, tables_.num_tiles, compute_);
  }
}

void CudaBackend::SwiGlu(Tensor gate, Tensor up, Tensor out) {
  STRATA_CHECK(gate.numel() == up.numel() && out.numel() == gate.numel());
  LaunchSiluMul(gate.f32(), up.f32(), gate.numel(), out.f32(), ProduceBf16Copy(out), compute_);
}

void CudaBackend::AddInPlace(Tensor x, Tensor y) {
  bf16_copy_ = {};
  STRATA_CHECK(x.numel() == y.numel());
  LaunchAddInPlace(x.f32(), y.f32(), x.numel(), compute_);
}

void CudaBackend::ArgMaxRows(Tensor x, std::span<int32_t> out) {
  STRATA_CHECK(static_cast<int64_t>(out.size()) == x.rows && x.cols > 0);
  auto* dev = reinterpret_cast<int32_t*>(argmax_dev_.get());
  const auto* host = reinterpret_cast<const int32_t*>(argmax_host_.get());
  for (int64_t r0 = 0; r0 < x.rows; r0 += kArgMaxRows) {
    const int64_t rows = std::min<int64_t>(kArgMaxRows, x.rows - r0);
    LaunchArgMaxRows(x.Rows(r0, rows).f32(), rows, x.cols, dev, compute_);
    STRATA_CUDA_CHECK(cudaMemcpyAsync(argmax_host_.get(), dev, rows * sizeof(int32_t),
                                      cudaMemcpyDeviceToHost, compute_));
    STRATA_CUDA_CHECK(cudaStreamSynchronize(compute_));
    std::copy(host, host + rows, out.begin() + r0);
  }
}

void CudaBackend::GatherLastTokens(Tensor x, Tensor out) {
  bf16_copy_ = {};
  STRATA_CHECK(batch_ != nullptr && out.rows == tables_.n_seqs && out.cols == x.cols);
  LaunchGatherRows(x.f32(), x.cols, tables_.last_token, out.rows, out.f32(), compute_);
}

}  // namespace strata::cuda
