// CudaBackend: the Backend on one CUDA device.
//  * Two non-blocking streams: compute (every op, and the synchronous copies, so they see
//    the ops before them) and copy (CopyToDeviceAsync on Stream::kCopy); CreateStream makes
//    more for libraries such as NCCL. BackendEvents are cudaEvents with timing enabled.
//    caps().device_id is the GPU's UUID.
//  * Activations and the KV cache are fp32; weights stay in device memory in their storage
//    dtype (bf16, fp16, fp32, fp8 e4m3 with per-row scales, int4 with group scales and zero
//    points).
//  * MatMul: up to kGemvMaxRows rows go to the GEMV kernels (gemv.h); more to cuBLASLt
//    (lt_matmul.h) on activations converted to the weight's type, in row chunks that fit
//    the conversion scratch; a case cuBLASLt cannot do falls back to the GEMV in 16-row steps.
//    MatMulShared runs q/k/v (gate/up) as one grouped GEMV when they qualify, else one GEMM
//    each on a single conversion of x. RmsNorm and SwiGlu also write their output in bf16,
//    which the MatMul right after them uses instead of converting (see bf16_copy_). fp8 weights
//    in a cuBLASLt GEMM: by default widened to bf16 block by block into a scratch and
//    multiplied with bf16 activations (W8A16, the accuracy of the decode path); optionally
//    with activations quantised to e4m3 per token (W8A8: faster, 3-bit mantissas). int4
//    weights: the GEMV dequantises in registers (x gathered first into an act-order weight's
//    column order); a GEMM widens them to bf16 block by block like fp8's W8A16.
//  * Attention: flash-decoding when no sequence has more than kDecodeMaxTokens tokens in the
//    batch, else tiled flash attention (attention.h): on tensor cores in bf16 for head_dim
//    64 and 128, in fp32 on CUDA cores for other sizes. Token trees (SeqSpan::tree_base):
//    each kernel has a tree variant, taken for batches with a tree, that applies the
//    tokens' masks; chain batches run the kernels as before.
//  * Scratch (cuBLASLt workspace, conversion buffers, split partials) is allocated at
//    creation; the batch tables grow only when a batch is larger than any before.
// Thread-safety: one thread drives an instance. Creation, allocation and BeginBatch make the
// backend's device current on the calling thread.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>

#include "common/backend/backend.h"
#include "common/backend/cuda/gemv.h"
#include "common/backend/cuda/lt_matmul.h"

namespace strata::cuda {

// How cuBLASLt GEMMs (prefill: more than kGemvMaxRows rows) multiply fp8 weights.
enum class Fp8Prefill : uint8_t {
  kBf16Activations,  // W8A16: weights widened to bf16 (exactly), bf16 GEMM; the default
  kFp8Activations,   // W8A8: activations quantised to e4m3 per token, fp8 GEMM
};

class CudaBackend final : public Backend {
 public:
  // Sequences with at most this many tokens in a batch use the decode attention kernel.
  static constexpr int64_t kDecodeMaxTokens = 4;

  // Errors: kUnavailable when the device cannot be used, kResourceExhausted when the
  // scratch does not fit. Prefer CreateCudaBackend (create_cuda_backend.h).
  static StatusOr<std::unique_ptr<CudaBackend>> Create(int device);
  ~CudaBackend() override;

  const BackendCaps& caps() const override { return caps_; }
  // Also names the mode in caps().name (", fp8 prefill W8A8"), so reports and logs show it.
  void set_fp8_prefill(Fp8Prefill mode);
  StatusOr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyToDevice(void* dst, const void* src, size_t bytes) override;
  void CopyToHost(void* dst, const void* src, size_t bytes) override;
  void Synchronize() override;
  size_t DeviceBytesInUse() override;
  StatusOr<DeviceBuffer> AllocatePinned(size_t bytes) override;
  void CopyToDeviceAsync(void* dst, const void* src, size_t bytes, Stream stream) override;
  std::unique_ptr<BackendStream> CreateStream() override;
  std::unique_ptr<BackendEvent> CreateEvent() override;
  void RecordEvent(BackendEvent& event, Stream stream) override;
  void StreamWaitEvent(Stream stream, BackendEvent& event) override;
  void WaitEvent(BackendEvent& event) override;
  bool EventDone(BackendEvent& event) override;
  float ElapsedMs(BackendEvent& start, BackendEvent& end) override;

  void BeginBatch(const BatchLayout& batch) override;
  void Embed(const WeightView& table, Tensor out) override;
  void RmsNorm(Tensor x, const WeightView& weight, float eps, Tensor out) override;
  void MatMul(Tensor x, const WeightView& w, Tensor out) override;
  void MatMulShared(Tensor x, std::span<const MatMulTarget> targets) override;
  void Rope(Tensor x, int64_t head_dim, Tensor inv_freq) override;
  void StoreKv(Tensor k, Tensor v, const KvLayer& cache) override;
  void Attention(Tensor q, const KvLayer& cache, const AttentionShape& shape, Tensor out) override;
  void SwiGlu(Tensor gate, Tensor up, Tensor out) override;
  void AddInPlace(Tensor x, Tensor y) override;
  void GatherLastTokens(Tensor x, Tensor out) override;
  void ArgMaxRows(Tensor x, std::span<int32_t> out) override;

  // cuda_probes.cc
  StatusOr<double> ProbeReadGBps(size_t bytes, int iters) override;
  StatusOr<double> ProbeGemmTflops(DType dtype, int64_t m, int64_t n, int64_t k,
                                   int iters) override;

 private:
  // Device copies of the current batch's index tables, carved from batch_dev_.
  struct BatchTables {
    const uint64_t* tree_masks = nullptr;  // (T, kTreeMaskWords) with a tree, else null
    const int32_t* tokens = nullptr;      // (T) token ids
    const int32_t* positions = nullptr;   // (T) RoPE positions
    const int32_t* rows = nullptr;        // (T) cache row: start_pos + index in its span
    const int32_t* token_slot = nullptr;  // (T) KV slot of each token
    // (T) with a tree, else null: its span's tree_base for a tree node, else kChainTreeBase
    const int32_t* tree_base = nullptr;
    const int32_t* last_token = nullptr;  // (S) index of each sequence's last token
    const int32_t* seqs = nullptr;        // (S, 4) kv_slot, start_pos, token_offset, n_tokens
    const int32_t* tiles = nullptr;       // (tiles, 2) prefill query tiles: sequence, first
    int64_t n_tokens = 0;
    int64_t n_seqs = 0;
    int64_t num_tiles = 0;
    int64_t max_seq_tokens = 0;  // most tokens of one sequence
    int64_t max_kv_len = 0;      // 1 + the largest row
  };

  CudaBackend(int device, const cudaDeviceProp& props);
  Status Init();
  cudaStream_t StreamOf(Stream stream) const { return stream == Stream::kCopy ? copy_ : compute_; }
  // Grows the batch mirror and device tables to `int32s` entries (synchronizes compute).
  void ReserveBatchTables(size_t int32s);
  // ---- bf16 activations in act_scratch_ ----
  // Whether the pending bf16 copy (see bf16_copy_) is x's; forgets it either way.
  bool TakeBf16Copy(Tensor x);
  // Where the op producing `out` writes its bf16 rounding, remembered as the pending copy;
  // null (and nothing pending) when it does not fit the scratch.
  __nv_bfloat16* ProduceBf16Copy(Tensor out);
  // x rounded to bf16 in act_scratch_: converted now unless *in_scratch; sets *in_scratch.
  const __nv_bfloat16* Bf16Input(Tensor x, bool* in_scratch);
  __nv_bfloat16* Bf16Scratch() const {
    return reinterpret_cast<__nv_bfloat16*>(act_scratch_.get());
  }
  // Forgets the pending copy when [dst, dst + bytes) overlaps the tensor it rounds.
  void WroteDevice(const void* dst, size_t bytes);

  // MatMul where *x_in_scratch says act_scratch_ holds bf16(x), on entry and on return.
  void MatMulInto(Tensor x, const WeightView& w, Tensor out, bool* x_in_scratch);
  // Whether the tensor-core GEMV takes w (else the generic one does).
  bool GemvMmaTakes(const WeightView& w) const;
  // x (at most kGemvMaxRows rows) in bf16, gathered into perm_scratch_ in col_perm's order.
  const __nv_bfloat16* GatherBf16Input(Tensor x, const int32_t* col_perm);
  // MatMul of at most kGemvMaxRows rows; xb: x in bf16 if already there, else null (then x
  // is converted into the scratch's start and *scratch_kept set false).
  void Gemv(Tensor x, const __nv_bfloat16* xb, const WeightView& w, Tensor out,
            bool* scratch_kept);
  // The tensor-core GEMV of xb (x.rows <= kGemvMaxRows, x.cols) into every target.
  void GemvMma(const __nv_bfloat16* xb, Tensor x, DType dtype, const GemvTarget* targets,
               size_t count);
  // MatMul on cuBLASLt; false (nothing enqueued) when it has no algorithm for the case.
  bool LtGemm(Tensor x, const WeightView& w, Tensor out, bool* x_in_scratch);
  // LtGemm of fp8 (W8A16) or int4 weights: blocks of weight rows widened to bf16 in
  // weight_scratch_ (int4: dequantised, in input column order), bf16 GEMMs into column
  // blocks of out, then fp8's per-row weight scales.
  bool LtGemmWidened(Tensor x, const WeightView& w, Tensor out, bool* x_in_scratch);

  int device_;
  size_t used_at_start_ = 0;  // device memory in use when Init began (context, others)
  int sm_count_;
  BackendCaps caps_;
  cudaStream_t compute_ = nullptr;
  cudaStream_t copy_ = nullptr;
  cudaEvent_t batch_uploaded_ = nullptr;  // the last batch upload has read the host mirror

  DeviceBuffer lt_workspace_;   // (kLtWorkspaceBytes) cuBLASLt workspace
  DeviceBuffer act_scratch_;    // (kActScratchBytes) activations converted for a GEMM
  DeviceBuffer weight_scratch_;  // (kWeightScratchBytes) fp8 / int4 weight rows widened to bf16
  DeviceBuffer perm_scratch_;   // (kPermScratchBytes) bf16 x in an int4 weight's column order
  DeviceBuffer row_scales_;     // (kMaxGemmRows) fp8 activation scales, one per row
  DeviceBuffer gemv_partials_;  // (kGemvPartialFloats) GEMV split-K partial sums
  DeviceBuffer attn_partials_;  // (kAttnPartialFloats) flash-decoding chunk partials
  DeviceBuffer argmax_dev_;     // (kArgMaxRows) int32, ArgMaxRows' results
  DeviceBuffer argmax_host_;    // (kArgMaxRows) int32, pinned, their copy
  std::unique_ptr<LtMatmul> lt_;
  Fp8Prefill fp8_prefill_ = Fp8Prefill::kBf16Activations;
  // The pending bf16 copy: RmsNorm and SwiGlu write their output rounded to bf16 into
  // act_scratch_ beside the fp32 one (the same rounding a GEMM's conversion does), and the
  // next op, if it is a MatMul or MatMulShared of that tensor, skips its conversion. Every
  // other op forgets it, and so do device writes over the tensor and allocations.
  struct Bf16Copy {
    const std::byte* data = nullptr;  // the fp32 tensor it rounds
    int64_t numel = 0;
  };
  Bf16Copy bf16_copy_;

  const BatchLayout* batch_ = nullptr;
  // The tables' host mirror and device copy, (batch_capacity_) int32 each: the tree masks
  // (uint64, at the 8-byte aligned start) then the int32 tables; see BeginBatch.
  DeviceBuffer batch_host_;  // pinned
  DeviceBuffer batch_dev_;
  size_t batch_capacity_ = 0;
  BatchTables tables_;
};

}  // namespace strata::cuda
