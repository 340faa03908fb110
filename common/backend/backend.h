// The compute interface every device implements, and what callers may ask of it.
// Callers ask capabilities ("async copies?"), never "is it CUDA?". Ops are issued in order on
// the backend's compute stream; weight uploads go on its copy stream; events order the two.
// The CPU backend runs each op and copy before returning, and its events complete at once.
// The CPU backend is the reference every other backend is compared with.
// Thread-safety: one thread drives a Backend instance (it owns per-instance scratch).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "common/backend/batch.h"
#include "common/backend/tensor.h"
#include "common/model/llama_weights.h"
#include "common/util/status.h"

namespace strata {

struct BackendCaps {
  std::string name;            // "cpu", "cuda:0 (NVIDIA H100 80GB HBM3)"
  bool async_copy = false;     // copies overlap compute
  bool pinned_host = false;    // page-locked host buffers speed up copies
  bool fp8_weights = false;    // MatMul accepts kF8E4M3 weights at full speed
  bool int4_weights = false;   // MatMul accepts kU4 weights (group scales and zero points)
  bool tree_attention = false;  // StoreKv and Attention take token trees (SeqSpan::tree_base)
  size_t memory_bytes = 0;     // device memory (0: host memory, no fixed budget)
  size_t workspace_bytes = 0;  // device memory the backend holds for itself (GEMM workspace,
                               // scratch), allocated at creation
  int device = -1;             // CUDA device index (-1: not a CUDA backend)
  std::string device_id;       // the device's identity, the same in every process (CUDA: its
                               // UUID, 32 hex digits); empty: the host
};

// Backend memory released by its deleter when the buffer is dropped.
struct BufferDeleter {
  void (*release)(void* ptr) = nullptr;
  void operator()(std::byte* p) const {
    if (p != nullptr && release != nullptr) release(p);
  }
};
using DeviceBuffer = std::unique_ptr<std::byte[], BufferDeleter>;

// One layer's KV cache: K and V each (slots * max_seq_len, kv_dim); sequence `s`, position
// `p` is row s * max_seq_len + p.
struct KvLayer {
  Tensor k;
  Tensor v;
  int64_t max_seq_len = 0;
};

// The two in-order queues of work a backend has.
enum class Stream : uint8_t { kCompute, kCopy };

// A point in a stream's work, created once at setup and recorded again and again.
class BackendEvent {
 public:
  virtual ~BackendEvent() = default;
};

// A queue of work beside the backend's compute and copy streams, for a library that issues
// its own work on the device (a data-plane link's NCCL sends and receives), ordered with the
// backend's streams by events. Created once at setup. On a backend whose work runs as it is
// issued (the CPU) there is no queue: native() is null and Record/Wait do nothing.
class BackendStream {
 public:
  virtual ~BackendStream() = default;
  // The native queue for the library's calls (a cudaStream_t on CUDA).
  virtual void* native() const = 0;
  // Records `event` after the work issued to this stream so far.
  virtual void Record(BackendEvent& event) = 0;
  // Work issued to this stream after this call starts only once `event` has completed; the
  // host does not block.
  virtual void Wait(BackendEvent& event) = 0;
};

// One weight of a MatMulShared call and the tensor its product goes to.
struct MatMulTarget {
  const WeightView* w = nullptr;
  Tensor out;  // (R, w->rows)
};

struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const BackendCaps& caps() const = 0;

  // Memory the ops can use; kResourceExhausted when it does not fit.
  virtual StatusOr<DeviceBuffer> Allocate(size_t bytes) = 0;
  virtual void CopyToDevice(void* dst, const void* src, size_t bytes) = 0;
  virtual void CopyToHost(void* dst, const void* src, size_t bytes) = 0;
  // Returns when every op issued so far has finished.
  virtual void Synchronize() = 0;
  // Device memory in use on the device now beyond what was in use when the backend was
  // created, as the device's runtime reports it (CUDA: total - free), so it counts what the
  // backend, its libraries and its callers allocated (and any other process's allocations
  // since); 0 where memory is host memory.
  virtual size_t DeviceBytesInUse() { return 0; }

  // Page-locked host memory for staging and the pinned tier (plain host memory where the
  // backend has no use for pinning), 4096-aligned so O_DIRECT reads can land in it;
  // kResourceExhausted when it cannot be had.
  virtual StatusOr<DeviceBuffer> AllocatePinned(size_t bytes) = 0;
  // Enqueues a copy to device memory `dst` from host or device memory `src` on `stream`;
  // `src` must stay untouched until an event recorded on `stream` after it has completed.
  virtual void CopyToDeviceAsync(void* dst, const void* src, size_t bytes, Stream stream) = 0;
  // A new stream of its own on the device (released with the returned object, after the work
  // issued to it has finished).
  virtual std::unique_ptr<BackendStream> CreateStream() = 0;
  virtual std::unique_ptr<BackendEvent> CreateEvent() = 0;
  virtual void RecordEvent(BackendEvent& event, Stream stream) = 0;
  // Work issued to `stream` after this call starts only once `event` has completed; the host
  // does not block.
  virtual void StreamWaitEvent(Stream stream, BackendEvent& event) = 0;
  // Blocks the host until `event` has completed.
  virtual void WaitEvent(BackendEvent& event) = 0;
  virtual bool EventDone(BackendEvent& event) = 0;
  // Milliseconds from `start` to `end`, both recorded and completed.
  virtual float ElapsedMs(BackendEvent& start, BackendEvent& end) = 0;

  // Makes `batch` the batch the following ops work on (token ids, positions, sequences).
  virtual void BeginBatch(const BatchLayout& batch) = 0;

  // out (T, hidden) = table rows of the batch's tokens (ids are validated by the caller).
  virtual void Embed(const WeightView& table, Tensor out) = 0;
  // out (R, n) = x / rms(x) * weight (1, n), per row; out may alias x.
  virtual void RmsNorm(Tensor x, const WeightView& weight, float eps, Tensor out) = 0;
  // out (R, w.rows) = x (R, w.cols) · wᵀ, in fp32 whatever w's dtype.
  virtual void MatMul(Tensor x, const WeightView& w, Tensor out) = 0;
  // MatMul of one input by several weights (q, k, v; gate, up): each target's out =
  // x · wᵀ, exactly as MatMul computes it. A backend may run them as one pass (the decode
  // GEMV then streams all the weights in one kernel); by default, one MatMul each.
  virtual void MatMulShared(Tensor x, std::span<const MatMulTarget> targets) {
    for (const MatMulTarget& t : targets) MatMul(x, *t.w, t.out);
  }
  // Rotates x (T, heads * head_dim) in place at the batch's positions, rotate-half layout
  // (as HF Llama); inv_freq (1, head_dim / 2).
  virtual void Rope(Tensor x, int64_t head_dim, Tensor inv_freq) = 0;
  // Writes k, v (T, kv_dim) into the cache at each token's sequence slot and row (its
  // span's start_pos + its index in the span).
  virtual void StoreKv(Tensor k, Tensor v, const KvLayer& cache) = 0;
  // Causal grouped-query attention of q (T, heads * head_dim) over each sequence's cache
  // rows [0, its row] — or, for a tree node, the rows SeqSpan::tree_base says;
  // out (T, heads * head_dim).
  virtual void Attention(Tensor q, const KvLayer& cache, const AttentionShape& shape,
                         Tensor out) = 0;
  // out (R, n) = silu(gate) * up.
  virtual void SwiGlu(Tensor gate, Tensor up, Tensor out) = 0;
  // x += y, elementwise.
  virtual void AddInPlace(Tensor x, Tensor y) = 0;
  // out (seqs, n) = x's row of each sequence's last token in the batch.
  virtual void GatherLastTokens(Tensor x, Tensor out) = 0;
  // out[r] = the column of row r of x (R, n) holding its largest value, the lowest among
  // equals (greedy sampling without copying the logits to the host); host ints, written
  // once the work before has run.
  virtual void ArgMaxRows(Tensor x, std::span<int32_t> out) = 0;

  // Ceilings for `strata bench`: each allocates what it needs, runs once to warm up, then
  // `iters` timed runs, and returns the best rate seen. Not for the serving path.
  // Memory read bandwidth over a buffer of `bytes`, in GB/s (1e9 bytes per second).
  virtual StatusOr<double> ProbeReadGBps(size_t bytes, int iters) = 0;
  // The backend's GEMM kernel on inputs already in the types it computes with for weights
  // of `dtype`: (m, k) · (n, k)ᵀ, in TFLOP/s (2·m·n·k per run).
  virtual StatusOr<double> ProbeGemmTflops(DType dtype, int64_t m, int64_t n, int64_t k,
                                           int iters) = 0;
};

}  // namespace strata
