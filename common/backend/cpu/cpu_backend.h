// The CPU backend: the reference implementation of Backend. "Device" memory is host memory,
// copies are memcpy, ops and copies run synchronously (an event is the time it was recorded); GEMMs go through OpenBLAS in fp32, converting
// bf16/f16/fp8 weights block by block into a scratch buffer allocated once.
// Thread-safety: one thread drives an instance (scratch buffers are per instance).
#pragma once

#include <memory>
#include <vector>

#include "common/backend/backend.h"

namespace strata {

class CpuBackend : public Backend {
 public:
  CpuBackend();

  const BackendCaps& caps() const override { return caps_; }
  StatusOr<DeviceBuffer> Allocate(size_t bytes) override;
  void CopyToDevice(void* dst, const void* src, size_t bytes) override;
  void CopyToHost(void* dst, const void* src, size_t bytes) override;
  void Synchronize() override {}
  // Page-aligned, so O_DIRECT reads can land in it.
  StatusOr<DeviceBuffer> AllocatePinned(size_t bytes) override;
  void CopyToDeviceAsync(void* dst, const void* src, size_t bytes, Stream stream) override;
  // No queue: work runs as it is issued (see BackendStream).
  std::unique_ptr<BackendStream> CreateStream() override;
  std::unique_ptr<BackendEvent> CreateEvent() override;
  void RecordEvent(BackendEvent& event, Stream stream) override;
  void StreamWaitEvent(Stream, BackendEvent&) override {}  // streams run in issue order
  void WaitEvent(BackendEvent&) override {}                  // recorded work is already done
  bool EventDone(BackendEvent&) override { return true; }
  float ElapsedMs(BackendEvent& start, BackendEvent& end) override;

  void BeginBatch(const BatchLayout& batch) override;
  void Embed(const WeightView& table, Tensor out) override;
  void RmsNorm(Tensor x, const WeightView& weight, float eps, Tensor out) override;
  void MatMul(Tensor x, const WeightView& w, Tensor out) override;
  void Rope(Tensor x, int64_t head_dim, Tensor inv_freq) override;
  void StoreKv(Tensor k, Tensor v, const KvLayer& cache) override;
  void Attention(Tensor q, const KvLayer& cache, const AttentionShape& shape,
                 Tensor out) override;
  void SwiGlu(Tensor gate, Tensor up, Tensor out) override;
  void AddInPlace(Tensor x, Tensor y) override;
  void GatherLastTokens(Tensor x, Tensor out) override;
  void ArgMaxRows(Tensor x, std::span<int32_t> out) override;

  // cpu_probes.cc: all hardware threads reading; OpenBLAS sgemm (every dtype is computed in
  // fp32 here).
  StatusOr<double> ProbeReadGBps(size_t bytes, int iters) override;
  StatusOr<double> ProbeGemmTflops(DType dtype, int64_t m, int64_t n, int64_t k,
                                   int iters) override;

 private:
  // Returns `w` as fp32: the bytes themselves when already aligned fp32, else converted
  // into vector_scratch_ (for small vectors such as norm weights).
  const float* VectorAsF32(const WeightView& w);

  BackendCaps caps_;
  const BatchLayout* batch_ = nullptr;
  std::vector<float> weight_scratch_;  // (kWeightScratchFloats) a block of converted weight rows
  std::vector<float> vector_scratch_;  // (n) a converted norm weight
  std::vector<float> rope_cos_sin_;    // (head_dim) cos then sin for one position
  std::vector<float> scores_;          // (kQueryBlock, max_seq_len) attention probabilities
};

}  // namespace strata
