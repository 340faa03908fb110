// A well-conditioned random Llama built in memory, initialised as transformers initialises
// one: every matrix N(0, 0.02), norm weights 1, stored bf16; optionally with the seven
// projections and the LM head re-encoded as fp8 e4m3 with one scale per row (max|row| / 448,
// the pack writer's rule), or the seven projections as int4 (QuantizeRowU4, the pack
// writer's rule; the head stays bf16), from those same bf16 values. Unlike the committed fixture (std-0.25
// weights, residual norms ~190, chaotic), its logits move in proportion to rounding, so
// tests on it can hold backends to tight tolerances. Thread-safety: test-only values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "common/model/config.h"
#include "common/model/dtype.h"
#include "common/model/int4_weights.h"
#include "common/model/llama_weights.h"

namespace strata::testing {

struct RandomLlama {
  ModelConfig config;
  std::vector<std::vector<std::byte>> bytes;  // the storage behind every view
  std::vector<std::vector<float>> scales;     // fp8 per-row scales
  std::vector<std::vector<uint16_t>> groups;  // int4 group scales and zero points (bf16)
  LlamaWeights weights;                        // host views
};

enum class RandomLlamaWeights { kBF16, kFP8, kInt4 };

// The model's dimensions; the defaults are the accuracy tests' model.
struct RandomLlamaShape {
  int64_t hidden = 256;
  int64_t intermediate = 768;
  int64_t layers = 4;
  int64_t heads = 8;
  int64_t kv_heads = 2;
  int64_t head_dim = 32;
  int64_t vocab = 4096;
};

// The shape's model, untied (by default hidden 256, 8 heads of 32 over 2 KV heads, MLP 768,
// 4 layers, vocabulary 4096).
inline std::unique_ptr<RandomLlama> MakeRandomLlama(uint32_t seed, RandomLlamaWeights encoding,
                                                    int64_t group_size = kDefaultInt4GroupSize,
                                                    const RandomLlamaShape& shape = {}) {
  auto m = std::make_unique<RandomLlama>();
  ModelConfig& c = m->config;
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = shape.hidden;
  c.intermediate_size = shape.intermediate;
  c.num_layers = shape.layers;
  c.num_heads = shape.heads;
  c.num_kv_heads = shape.kv_heads;
  c.head_dim = shape.head_dim;
  c.vocab_size = shape.vocab;
  c.max_position_embeddings = 4096;
  c.rope_theta = 500000.0;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  // A (rows, cols) matrix: N(0, 0.02) rounded to bf16, or that re-encoded as `as`.
  auto matrix = [&](int64_t rows, int64_t cols, RandomLlamaWeights as) {
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (float& v : w) v = BF16ToFloat(FloatToBF16(normal(rng)));
    std::vector<std::byte> b;
    WeightView view{nullptr, DType::kBF16, rows, cols, nullptr};
    if (as == RandomLlamaWeights::kInt4) {
      view.dtype = DType::kU4;
      view.group_size = group_size;
      b.resize(static_cast<size_t>(rows * cols / 2));
      const auto groups = static_cast<size_t>(rows * (cols / group_size));
      m->groups.emplace_back(groups);
      m->groups.emplace_back(groups);
      std::vector<uint16_t>& scales = m->groups[m->groups.size() - 2];
      std::vector<uint16_t>& zeros = m->groups.back();
      for (int64_t r = 0; r < rows; ++r) {
        const size_t g = static_cast<size_t>(r * (cols / group_size));
        QuantizeRowU4(w.data() + r * cols, cols, group_size,
                      reinterpret_cast<uint8_t*>(b.data()) + r * cols / 2, scales.data() + g,
                      zeros.data() + g);
      }
      view.group_scales = scales.data();
      view.group_zeros = zeros.data();
    } else if (as == RandomLlamaWeights::kFP8) {
      view.dtype = DType::kF8E4M3;
      b.resize(w.size());
      m->scales.emplace_back(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = w.data() + r * cols;
        float amax = 0.0f;
        for (int64_t i = 0; i < cols; ++i) amax = std::max(amax, std::fabs(row[i]));
        const float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
        m->scales.back()[static_cast<size_t>(r)] = scale;
        for (int64_t i = 0; i < cols; ++i) {
          b[static_cast<size_t>(r * cols + i)] = static_cast<std::byte>(FloatToF8E4M3(row[i] / scale));
        }
      }
      view.scales = m->scales.back().data();
    } else {
      b.resize(w.size() * 2);
      for (size_t i = 0; i < w.size(); ++i) {
        const uint16_t bits = FloatToBF16(w[i]);
        std::memcpy(b.data() + 2 * i, &bits, 2);
      }
    }
    m->bytes.push_back(std::move(b));
    view.data = m->bytes.back().data();
    return view;
  };
  auto ones = [&](int64_t n) {
    std::vector<std::byte> b(static_cast<size_t>(n) * 2);
    const uint16_t one = FloatToBF16(1.0f);
    for (int64_t i = 0; i < n; ++i) std::memcpy(b.data() + 2 * i, &one, 2);
    m->bytes.push_back(std::move(b));
    return WeightView{m->bytes.back().data(), DType::kBF16, 1, n, nullptr};
  };
  const int64_t h = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), f = c.intermediate_size;
  const RandomLlamaWeights projections = encoding;
  const RandomLlamaWeights bf16 = RandomLlamaWeights::kBF16;
  m->weights.embed = matrix(c.vocab_size, h, bf16);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LlamaLayerWeights w;
    w.attn_norm = ones(h);
    w.wq = matrix(q, h, projections);
    w.wk = matrix(kv, h, projections);
    w.wv = matrix(kv, h, projections);
    w.wo = matrix(h, q, projections);
    w.mlp_norm = ones(h);
    w.w_gate = matrix(f, h, projections);
    w.w_up = matrix(f, h, projections);
    w.w_down = matrix(h, f, projections);
    m->weights.layers.push_back(w);
  }
  m->weights.final_norm = ones(h);
  m->weights.lm_head =
      matrix(c.vocab_size, h, encoding == RandomLlamaWeights::kFP8 ? encoding : bf16);
  return m;
}

// `n` token ids in [0, vocab), from `seed`.
inline std::vector<int32_t> RandomTokens(int32_t n, int32_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& t : ids) t = id(rng);
  return ids;
}

inline double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace strata::testing
