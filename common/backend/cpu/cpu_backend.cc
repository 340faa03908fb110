// CpuBackend: composes cpu_ops.h and OpenBLAS (see cpu_backend.h).
#include "common/backend/cpu/cpu_backend.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "common/backend/cpu/cpu_ops.h"
#include "common/model/int4_weights.h"
#include "common/util/direct_io.h"

namespace strata {
namespace {

constexpr size_t kWeightScratchFloats = size_t{4} << 20;  // 16 MiB of converted weight rows
constexpr int64_t kQueryBlock = 64;                        // query rows per attention GEMM
constexpr size_t kAlignment = 64;

void ReleaseAligned(void* p) { std::free(p); }

bool IsAlignedF32(const WeightView& w) {
  return w.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0;
}

const std::byte* RowPtr(const WeightView& w, int64_t row) {
  return w.data + DTypeBytes(w.dtype, row * w.cols);
}

StatusOr<DeviceBuffer> AllocateAligned(size_t bytes, size_t alignment) {
  const size_t rounded = (std::max<size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded);
  if (p == nullptr) {
    return ResourceExhausted("cannot allocate " + std::to_string(bytes) +
                             " bytes of host memory; lower the context, batch size or budgets");
  }
  return DeviceBuffer(static_cast<std::byte*>(p), BufferDeleter{&ReleaseAligned});
}

}  // namespace

CpuBackend::CpuBackend() : weight_scratch_(kWeightScratchFloats) {
  caps_.name = "cpu";
  caps_.int4_weights = true;
  caps_.tree_attention = true;
}

StatusOr<DeviceBuffer> CpuBackend::Allocate(size_t bytes) {
  return AllocateAligned(bytes, kAlignment);
}

StatusOr<DeviceBuffer> CpuBackend::AllocatePinned(size_t bytes) {
  return AllocateAligned(bytes, kDirectIoAlignment);
}

void CpuBackend::CopyToDevice(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBackend::CopyToHost(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
}

void CpuBackend::CopyToDeviceAsync(void* dst, const void* src, size_t bytes, Stream) {
  std::memcpy(dst, src, bytes);
}

namespace {
struct CpuEvent final : BackendEvent {
  std::chrono::steady_clock::time_point when;
};

struct CpuStream final : BackendStream {
  void* native() const override { return nullptr; }
  void Record(BackendEvent& event) override {
    static_cast<CpuEvent&>(event).when = std::chrono::steady_clock::now();
  }
  void Wait(BackendEvent&) override {}  // recorded work is already done
};
}  // namespace

std::unique_ptr<BackendStream> CpuBackend::CreateStream() { return std::make_unique<CpuStream>(); }

std::unique_ptr<BackendEvent> CpuBackend::CreateEvent() { return std::make_unique<CpuEvent>(); }

void CpuBackend::RecordEvent(BackendEvent& event, Stream) {
  static_cast<CpuEvent&>(event).when = std::chrono::steady_clock::now();
}

float CpuBackend::ElapsedMs(BackendEvent& start, BackendEvent& end) {
  return std::chrono::duration<float, std::milli>(static_cast<CpuEvent&>(end).when -
                                                  static_cast<CpuEvent&>(start).when)
      .count();
}

void CpuBackend::BeginBatch(const BatchLayout& batch) { batch_ = &batch; }

void CpuBackend::Embed(const WeightView& table, Tensor out) {
  STRATA_CHECK(batch_ != nullptr && out.rows == batch_->n_tokens() && out.cols == table.cols);
  for (int64_t t = 0; t < out.rows; ++t) {
    const int32_t id = batch_->tokens[static_cast<size_t>(t)];
    STRATA_CHECK(id >= 0 && id < table.rows);
    float* row = out.f32() + t * out.cols;
    ConvertToFloat(RowPtr(table, id), table.dtype, row, static_cast<size_t>(table.cols));
    if (table.scales != nullptr) {  // fp8: the row's scale
      for (int64_t c = 0; c < out.cols; ++c) row[c] *= table.scales[id];
    }
  }
}

const float* CpuBackend::VectorAsF32(const WeightView& w) {
  if (IsAlignedF32(w)) return reinterpret_cast<const float*>(w.data);
  vector_scratch_.resize(static_cast<size_t>(w.numel()));
  ConvertToFloat(w.data, w.dtype, vector_scratch_.data(), vector_scratch_.size());
  return vector_scratch_.data();
}

void CpuBackend::RmsNorm(Tensor x, const WeightView& weight, float eps, Tensor out) {
  STRATA_CHECK(x.cols == weight.numel() && out.rows == x.rows && out.cols == x.cols);
  const float* w = VectorAsF32(weight);
  for (int64_t r = 0; r < x.rows; ++r) {
    cpu::RmsNorm(x.f32() + r * x.cols, w, x.cols, eps, out.f32() + r * out.cols);
  }
}

void CpuBackend::MatMul(Tensor x, const WeightView& w, Tensor out) {
  STRATA_CHECK(x.cols == w.cols && out.rows == x.rows && out.cols == w.rows);
  const int64_t m = x.rows, k = w.cols, n = w.rows;
  if (m == 0) return;
  auto gemm = [&](const float* wblock, int64_t first_row, int64_t nrows) {
    float* c = out.f32() + first_row;
    if (m == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(nrows), static_cast<int>(k), 1.0f,
                  wblock, static_cast<int>(k), x.f32(), 1, 0.0f, c, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                  static_cast<int>(nrows), static_cast<int>(k), 1.0f, x.f32(), static_cast<int>(k),
                  wblock, static_cast<int>(k), 0.0f, c, static_cast<int>(n));
    }
  };
  if (IsAlignedF32(w)) {
    gemm(reinterpret_cast<const float*>(w.data), 0, n);
    return;
  }
  const int64_t block_rows = std::max<int64_t>(1, static_cast<int64_t>(kWeightScratchFloats) / k);
  if (weight_scratch_.size() < static_cast<size_t>(std::min(block_rows, n) * k)) {
    weight_scratch_.resize(static_cast<size_t>(std::min(block_rows, n) * k));  // k > scratch
  }
  for (int64_t r0 = 0; r0 < n; r0 += block_rows) {
    const int64_t rows = std::min(block_rows, n - r0);
    if (w.dtype == DType::kU4) {  // exact (q - z) * s, group by group
      DequantizeU4Rows(w, r0, rows, weight_scratch_.data());
    } else {
      ConvertToFloat(RowPtr(w, r0), w.dtype, weight_scratch_.data(), static_cast<size_t>(rows * k));
    }
    gemm(weight_scratch_.data(), r0, rows);
  }
  if (w.scales != nullptr) {  // fp8: one scale per output channel
    for (int64_t t = 0; t < m; ++t) {
      float* row = out.f32() + t * n;
      for (int64_t c = 0; c < n; ++c) row[c] *= w.scales[c];
    }
  }
}

void CpuBackend::Rope(Tensor x, int64_t head_dim, Tensor inv_freq) {
  STRATA_CHECK(batch_ != nullptr && x.rows == batch_->n_tokens() && x.cols % head_dim == 0);
  const int64_t half = head_dim / 2;
  STRATA_CHECK(inv_freq.numel() == half);
  rope_cos_sin_.resize(static_cast<size_t>(head_dim));
  float* cos = rope_cos_sin_.data();
  float* sin = cos + half;
  for (int64_t t = 0; t < x.rows; ++t) {
    const float pos = static_cast<float>(batch_->positions[static_cast<size_t>(t)]);
    for (int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq.f32()[i];
      cos[i] = std::cos(angle);
      sin[i] = std::sin(angle);
    }
    cpu::RopeRotate(x.f32() + t * x.cols, x.cols / head_dim, head_dim, cos, sin);
  }
}

void CpuBackend::StoreKv(Tensor k, Tensor v, const KvLayer& cache) {
  STRATA_CHECK(batch_ != nullptr && k.cols == cache.k.cols && v.cols == cache.v.cols);
  const size_t row_bytes = static_cast<size_t>(k.cols) * sizeof(float);
  for (const SeqSpan& s : batch_->seqs) {
    STRATA_CHECK(s.start_pos + s.n_tokens <= cache.max_seq_len);
    const int64_t dst_row = s.kv_slot * cache.max_seq_len + s.start_pos;
    STRATA_CHECK(dst_row + s.n_tokens <= cache.k.rows);
    std::memcpy(cache.k.Rows(dst_row, s.n_tokens).data, k.Rows(s.token_offset, s.n_tokens).data,
                row_bytes * static_cast<size_t>(s.n_tokens));
    std::memcpy(cache.v.Rows(dst_row, s.n_tokens).data, v.Rows(s.token_offset, s.n_tokens).data,
                row_bytes * static_cast<size_t>(s.n_tokens));
  }
}

void CpuBackend::Attention(Tensor q, const KvLayer& cache, const AttentionShape& shape,
                           Tensor out) {
  STRATA_CHECK(batch_ != nullptr && q.cols == shape.num_heads * shape.head_dim);
  STRATA_CHECK(out.rows == q.rows && out.cols == q.cols);
  const int64_t hd = shape.head_dim;
  const int64_t group = shape.num_heads / shape.num_kv_heads;
  const int64_t kv_dim = cache.k.cols;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  scores_.resize(static_cast<size_t>(kQueryBlock * cache.max_seq_len));
  for (const SeqSpan& s : batch_->seqs) {
    const float* k_seq = cache.k.f32() + s.kv_slot * cache.max_seq_len * kv_dim;
    const float* v_seq = cache.v.f32() + s.kv_slot * cache.max_seq_len * kv_dim;
    for (int64_t t0 = 0; t0 < s.n_tokens; t0 += kQueryBlock) {
      const int64_t rows = std::min<int64_t>(kQueryBlock, s.n_tokens - t0);
      const int64_t first_pos = s.start_pos + t0;
      const int64_t len = first_pos + rows;  // keys visible to the block's last row
      for (int64_t h = 0; h < shape.num_heads; ++h) {
        const int64_t kvh = h / group;
        const float* qh = q.f32() + (s.token_offset + t0) * q.cols + h * hd;
        float* oh = out.f32() + (s.token_offset + t0) * out.cols + h * hd;
        // scores (rows, len) = scale * q_h (rows, hd) · k_h (len, hd)ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows),
                    static_cast<int>(len), static_cast<int>(hd), scale, qh, static_cast<int>(q.cols),
                    k_seq + kvh * hd, static_cast<int>(kv_dim), 0.0f, scores_.data(),
                    static_cast<int>(len));
        for (int64_t r = 0; r < rows; ++r) {
          float* row = scores_.data() + r * len;
          const int64_t own_row = first_pos + r;
          if (s.tree_base >= 0 && own_row >= s.tree_base) {
            // A tree node: the rows before tree_base and the tree rows its mask names.
            const uint64_t* mask =
                batch_->tree_masks.data() + (s.token_offset + t0 + r) * kTreeMaskWords;
            for (int64_t j = s.tree_base; j < len; ++j) {
              const int64_t b = j - s.tree_base;
              if (((mask[b / 64] >> (b % 64)) & 1u) == 0) {
                row[j] = -std::numeric_limits<float>::infinity();
              }
            }
            cpu::SoftmaxInPlace(row, len);
            continue;
          }
          const int64_t visible = own_row + 1;  // causal: keys [0, its row]
          cpu::SoftmaxInPlace(row, visible);
          std::fill(row + visible, row + len, 0.0f);
        }
        // out_h (rows, hd) = scores (rows, len) · v_h (len, hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows),
                    static_cast<int>(hd), static_cast<int>(len), 1.0f, scores_.data(),
                    static_cast<int>(len), v_seq + kvh * hd, static_cast<int>(kv_dim), 0.0f, oh,
                    static_cast<int>(out.cols));
      }
    }
  }
}

void CpuBackend::SwiGlu(Tensor gate, Tensor up, Tensor out) {
  STRATA_CHECK(gate.numel() == up.numel() && out.numel() == gate.numel());
  cpu::SiluMul(gate.f32(), up.f32(), gate.numel(), out.f32());
}

void CpuBackend::AddInPlace(Tensor x, Tensor y) {
  STRATA_CHECK(x.numel() == y.numel());
  float* a = x.f32();
  const float* b = y.f32();
  for (int64_t i = 0; i < x.numel(); ++i) a[i] += b[i];
}

void CpuBackend::ArgMaxRows(Tensor x, std::span<int32_t> out) {
  STRATA_CHECK(static_cast<int64_t>(out.size()) == x.rows && x.cols > 0);
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* row = x.f32() + r * x.cols;
    out[static_cast<size_t>(r)] = static_cast<int32_t>(std::max_element(row, row + x.cols) - row);
  }
}

void CpuBackend::GatherLastTokens(Tensor x, Tensor out) {
  STRATA_CHECK(batch_ != nullptr && out.rows == static_cast<int64_t>(batch_->seqs.size()));
  STRATA_CHECK(out.cols == x.cols);
  for (size_t i = 0; i < batch_->seqs.size(); ++i) {
    const SeqSpan& s = batch_->seqs[i];
    std::memcpy(out.Rows(static_cast<int64_t>(i), 1).data,
                x.Rows(s.token_offset + s.n_tokens - 1, 1).data, x.Rows(0, 1).nbytes());
  }
}

}  // namespace strata
