// Synthetic models (see synthetic_model.h). All layers view one random bf16 buffer at
// different offsets, so host memory is about one layer however many layers are written.
#include "common/bench/synthetic_model.h"

#include <cmath>
#include <cstring>
#include <new>

#include "common/model/dtype.h"
#include "common/storage/pack.h"

namespace strata {
namespace {

constexpr std::string_view kSourcePrefix = "synthetic:";
// Uniform on [-a, a] has std a / sqrt(3).
constexpr float kWeightStd = 0.02f;
// Layer l's tensors start this many elements after layer l-1's in the shared buffer.
constexpr int64_t kLayerShift = 4099;

// xorshift64*: fast, and good enough for weights nobody reads.
uint64_t NextRandom(uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

// (n) bf16 values uniform on [-a, a], a = std * sqrt(3).
std::vector<uint16_t> RandomBf16(size_t n, uint64_t seed) {
  std::vector<uint16_t> out(n);
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  const float a = kWeightStd * std::sqrt(3.0f);
  for (size_t i = 0; i < n; ++i) {
    const float u = static_cast<float>(NextRandom(state) >> 40) / 16777216.0f;  // [0, 1)
    out[i] = FloatToBF16((2.0f * u - 1.0f) * a);
  }
  return out;
}

WeightView Bf16View(const uint16_t* data, int64_t rows, int64_t cols) {
  return {reinterpret_cast<const std::byte*>(data), DType::kBF16, rows, cols, nullptr};
}

}  // namespace

StatusOr<PackResult> WriteSyntheticPack(const ModelConfig& config, std::string_view preset,
                                        PackDType dtype, const std::string& dir, uint64_t seed,
                                        const std::string& tokenizer_dir) {
  const int64_t h = config.hidden_size, inter = config.intermediate_size;
  const int64_t q = config.q_dim(), kv = config.kv_dim();
  const int64_t layer_elems = 2 * q * h + 2 * kv * h + 3 * inter * h;
  const int64_t end_elems = config.vocab_size * h;
  const int64_t total =
      std::max(layer_elems, end_elems) + kLayerShift * std::max<int64_t>(config.num_layers, 2);
  std::vector<uint16_t> random;
  try {
    random = RandomBf16(static_cast<size_t>(total), seed);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("cannot allocate " + std::to_string(total * 2) +
                             " bytes of host memory for synthetic weights");
  }
  const std::vector<uint16_t> ones(static_cast<size_t>(h), FloatToBF16(1.0f));

  LlamaWeights w;
  w.embed = Bf16View(random.data(), config.vocab_size, h);
  w.lm_head = Bf16View(random.data() + kLayerShift, config.vocab_size, h);
  w.final_norm = Bf16View(ones.data(), 1, h);
  for (int64_t l = 0; l < config.num_layers; ++l) {
    const uint16_t* next = random.data() + l * kLayerShift;
    auto take = [&](int64_t rows, int64_t cols) {
      const WeightView v = Bf16View(next, rows, cols);
      next += rows * cols;
      return v;
    };
    LlamaLayerWeights layer;
    layer.attn_norm = Bf16View(ones.data(), 1, h);
    layer.mlp_norm = Bf16View(ones.data(), 1, h);
    layer.wq = take(q, h);
    layer.wk = take(kv, h);
    layer.wv = take(kv, h);
    layer.wo = take(h, q);
    layer.w_gate = take(inter, h);
    layer.w_up = take(inter, h);
    layer.w_down = take(h, inter);
    w.layers.push_back(layer);
  }
  PackOptions options;
  options.model_dir = tokenizer_dir;  // only tokenizer files are copied from it
  options.out_dir = dir;
  options.dtype = dtype;
  options.force = true;
  options.source = std::string(kSourcePrefix) + std::string(preset);
  options.buffer_bytes = size_t{64} << 20;
  return WritePackFromWeights(config, w, options);
}

bool IsSyntheticPack(const std::string& dir, std::string_view preset, const ModelConfig& config,
                     PackDType dtype) {
  StatusOr<Pack> pack = Pack::Open(dir);
  if (!pack.ok()) return false;
  return pack->source() == std::string(kSourcePrefix) + std::string(preset) &&
         pack->dtype() == dtype && ModelConfigToJson(pack->config()) == ModelConfigToJson(config);
}

}  // namespace strata
