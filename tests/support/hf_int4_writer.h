// Test support: Hugging Face AWQ and GPTQ 4-bit checkpoints written from float weights by our
// own round-to-nearest quantiser, packed in the published layouts (common/model/
// hf_int4_layout.h describes them: AWQ gemm's interleaved nibbles, GPTQ's sequential ones, v1
// zero points stored minus one), and the dequantise-in-fp32 reference of what was written.
// WriteHfInt4Checkpoint quantises the tiny fixture's projections; WriteDequantizedCheckpoint
// writes the same model with those dequantised weights as a plain bf16 checkpoint.
// Thread-safety: test-only, used from one thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/model/checkpoint.h"
#include "common/model/config_quantization.h"
#include "common/model/dtype.h"
#include "common/model/hf_int4_layout.h"
#include "common/model/llama_weights.h"
#include "tests/support/reference_fixture.h"
#include "tests/unit/model/model_test_util.h"

namespace strata::testing {

struct HfInt4Spec {
  HfQuantization::Method method = HfQuantization::Method::kGptq;
  int64_t group_size = 32;   // or kHfGroupPerRow
  bool sym = false;          // GPTQ: zero point 8, scale max|w| / 7.5
  bool gptq_v1 = true;       // GPTQ: zero points stored minus one ("gptq"), else "gptq_v2"
  bool act_order = false;    // GPTQ: g_idx from a random column order (desc_act)
  bool write_g_idx = true;   // GPTQ: write g_idx (always, when act_order)
  std::string other_dtype = "BF16";  // embeddings, norms, head: "BF16" (bytes kept) or "F16"
  uint32_t seed = 1;
  // act_order: one random column order per input of a layer (q, k and v share one; gate and
  // up one), as GPTQ's act-order derives it from the input's statistics; false: one for
  // every projection.
  bool order_per_input = true;
  // act_order: the module ("self_attn.o_proj") whose g_idx is i / G in every layer, so that
  // its order is the identity; empty: none.
  std::string identity_module = {};
};

// A test name for `spec`: "gptq_g32_asym_v1_actorder", "awq_g32_F16".
inline std::string SpecName(const HfInt4Spec& spec) {
  std::string s = spec.method == HfQuantization::Method::kAwq ? "awq" : "gptq";
  s += spec.group_size == kHfGroupPerRow ? "_row" : "_g" + std::to_string(spec.group_size);
  if (spec.method == HfQuantization::Method::kGptq) {
    s += spec.sym ? "_sym" : "_asym";
    s += spec.gptq_v1 ? "_v1" : "_v2";
    s += spec.act_order ? "_actorder" : "";
    s += spec.act_order && !spec.order_per_input ? "_perprojection" : "";
    s += spec.act_order && !spec.identity_module.empty() ? "_identity" : "";
    s += spec.write_g_idx ? "" : "_nogidx";
  }
  return s + "_" + spec.other_dtype;
}
inline void PrintTo(const HfInt4Spec& spec, std::ostream* os) { *os << SpecName(spec); }
inline std::string SpecTestName(const ::testing::TestParamInfo<HfInt4Spec>& info) {
  return SpecName(info.param);
}

// One projection quantised, in Hugging Face orientation (out, in).
struct QuantizedProjection {
  std::string module;  // "model.layers.0.self_attn.q_proj"
  int64_t out = 0, in = 0, group_size = 0;
  std::vector<uint8_t> q;        // (out, in) codes 0..15
  std::vector<uint8_t> zeros;    // (out, groups) zero points 0..15
  std::vector<uint16_t> scales;  // (out, groups) fp16 bits
  std::vector<int32_t> g_idx;    // (in) group of each input column

  int64_t groups() const { return in / group_size; }
  // The dequantise-in-fp32 reference: (q - z) * fp16 scale of input column i's group.
  float Reference(int64_t o, int64_t i) const {
    const size_t g = static_cast<size_t>(o * groups() + g_idx[static_cast<size_t>(i)]);
    const float code = q[static_cast<size_t>(o * in + i)];
    return (code - static_cast<float>(zeros[g])) * F16ToFloat(scales[g]);
  }
};

// The group of each input column: i / G, or with `act_order` column perm[k] in group k / G
// for a random order perm (as GPTQ's act-order assigns them).
inline std::vector<int32_t> MakeGIdx(int64_t in, int64_t group_size, bool act_order,
                                     std::mt19937& rng) {
  std::vector<int32_t> order(static_cast<size_t>(in));
  std::iota(order.begin(), order.end(), 0);
  if (act_order) std::shuffle(order.begin(), order.end(), rng);
  std::vector<int32_t> g_idx(static_cast<size_t>(in));
  for (int64_t k = 0; k < in; ++k) {
    g_idx[static_cast<size_t>(order[static_cast<size_t>(k)])] = static_cast<int32_t>(k / group_size);
  }
  return g_idx;
}

// Round-to-nearest of `w` (out, in) in the groups `g_idx` gives.
inline QuantizedProjection QuantizeProjection(const std::string& module, const float* w,
                                              int64_t out, int64_t in, const HfInt4Spec& spec,
                                              std::vector<int32_t> g_idx) {
  QuantizedProjection p;
  p.module = module;
  p.out = out;
  p.in = in;
  p.group_size = spec.group_size == kHfGroupPerRow ? in : spec.group_size;
  p.g_idx = std::move(g_idx);
  const int64_t groups = p.groups();
  p.q.resize(static_cast<size_t>(out * in));
  p.zeros.resize(static_cast<size_t>(out * groups));
  p.scales.resize(p.zeros.size());
  const bool sym = spec.method == HfQuantization::Method::kGptq && spec.sym;
  for (int64_t o = 0; o < out; ++o) {
    std::vector<float> lo(static_cast<size_t>(groups), 0.0f), hi(lo);
    for (int64_t i = 0; i < in; ++i) {
      const size_t g = static_cast<size_t>(p.g_idx[static_cast<size_t>(i)]);
      lo[g] = std::min(lo[g], w[o * in + i]);
      hi[g] = std::max(hi[g], w[o * in + i]);
    }
    for (int64_t g = 0; g < groups; ++g) {
      const size_t k = static_cast<size_t>(o * groups + g);
      const float amax = std::max(-lo[static_cast<size_t>(g)], hi[static_cast<size_t>(g)]);
      float scale = sym ? amax / 7.5f : (hi[static_cast<size_t>(g)] - lo[static_cast<size_t>(g)]) / 15;
      if (scale == 0.0f) scale = 1.0f;
      p.scales[k] = FloatToF16(scale);
      scale = F16ToFloat(p.scales[k]);
      p.zeros[k] = static_cast<uint8_t>(
          sym ? 8 : std::clamp(std::nearbyint(-lo[static_cast<size_t>(g)] / scale), 0.0f, 15.0f));
    }
    for (int64_t i = 0; i < in; ++i) {
      const size_t k = static_cast<size_t>(o * groups + p.g_idx[static_cast<size_t>(i)]);
      const float code = std::nearbyint(w[o * in + i] / F16ToFloat(p.scales[k])) + p.zeros[k];
      p.q[static_cast<size_t>(o * in + i)] = static_cast<uint8_t>(std::clamp(code, 0.0f, 15.0f));
    }
  }
  return p;
}

inline std::string I32Bytes(const std::vector<uint32_t>& words) {
  std::string s(words.size() * 4, '\0');
  std::memcpy(s.data(), words.data(), s.size());
  return s;
}

// Packs eight values into a word: nibble k holds value order[k] of the eight.
inline uint32_t PackWord(const uint8_t* values, bool awq_order, int64_t stride = 1) {
  uint32_t word = 0;
  for (int k = 0; k < 8; ++k) {
    const int which = awq_order ? kAwqNibbleOrder[static_cast<size_t>(k)] : k;
    word |= static_cast<uint32_t>(values[which * stride] & 0xf) << (4 * k);
  }
  return word;
}

// The tensors of `p` in the published layout of `spec`.
inline std::vector<SyntheticTensor> PackProjection(const QuantizedProjection& p,
                                                   const HfInt4Spec& spec) {
  const bool awq = spec.method == HfQuantization::Method::kAwq;
  const int64_t out = p.out, in = p.in, groups = p.groups();
  // Transposed to (in, out) and (groups, out): both layouts pack along out or in from there.
  std::vector<uint8_t> qt(static_cast<size_t>(in * out)), zt(static_cast<size_t>(groups * out));
  std::vector<uint16_t> st(zt.size());
  const int zero_offset = !awq && spec.gptq_v1 ? 1 : 0;
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) qt[static_cast<size_t>(i * out + o)] = p.q[static_cast<size_t>(o * in + i)];
    for (int64_t g = 0; g < groups; ++g) {
      zt[static_cast<size_t>(g * out + o)] =
          static_cast<uint8_t>((p.zeros[static_cast<size_t>(o * groups + g)] - zero_offset) & 0xf);
      st[static_cast<size_t>(g * out + o)] = p.scales[static_cast<size_t>(o * groups + g)];
    }
  }
  std::vector<uint32_t> qweight, qzeros;
  if (awq) {  // (in, out / 8), outputs interleaved within a word
    for (int64_t i = 0; i < in; ++i)
      for (int64_t c = 0; c < out / 8; ++c) qweight.push_back(PackWord(&qt[static_cast<size_t>(i * out + c * 8)], true));
  } else {  // (in / 8, out), eight consecutive inputs a word
    for (int64_t r = 0; r < in / 8; ++r)
      for (int64_t o = 0; o < out; ++o) qweight.push_back(PackWord(&qt[static_cast<size_t>(r * 8 * out + o)], false, out));
  }
  for (int64_t g = 0; g < groups; ++g)
    for (int64_t c = 0; c < out / 8; ++c) qzeros.push_back(PackWord(&zt[static_cast<size_t>(g * out + c * 8)], awq));
  std::string scales(st.size() * 2, '\0');
  std::memcpy(scales.data(), st.data(), scales.size());
  std::vector<SyntheticTensor> t = {
      {p.module + ".qweight", "I32", awq ? std::vector<int64_t>{in, out / 8} : std::vector<int64_t>{in / 8, out}, I32Bytes(qweight)},
      {p.module + ".qzeros", "I32", {groups, out / 8}, I32Bytes(qzeros)},
      {p.module + ".scales", "F16", {groups, out}, scales}};
  if (!awq && (spec.write_g_idx || spec.act_order)) {
    std::vector<uint32_t> g(p.g_idx.begin(), p.g_idx.end());
    t.push_back({p.module + ".g_idx", "I32", {in}, I32Bytes(g)});
  }
  return t;
}

inline nlohmann::json QuantizationConfig(const HfInt4Spec& spec) {
  if (spec.method == HfQuantization::Method::kAwq) {
    return {{"quant_method", "awq"}, {"bits", 4}, {"group_size", spec.group_size},
            {"zero_point", true}, {"version", "gemm"}, {"modules_to_not_convert", nullptr}};
  }
  return {{"quant_method", "gptq"}, {"bits", 4}, {"group_size", spec.group_size},
          {"desc_act", spec.act_order}, {"sym", spec.sym}, {"lm_head", false},
          {"checkpoint_format", spec.gptq_v1 ? "gptq" : "gptq_v2"}};
}

// A tensor's bytes in `dtype` ("BF16" keeps a BF16 source's bytes; "F16" rounds).
inline std::string TensorBytes(const TensorInfo& t, const std::string& dtype) {
  if (dtype == "BF16" && !t.i32 && t.dtype == DType::kBF16) {
    return std::string(reinterpret_cast<const char*>(t.data), t.nbytes);
  }
  std::vector<float> f(static_cast<size_t>(t.numel()));
  ConvertToFloat(t.data, t.dtype, f.data(), f.size());
  std::string out(f.size() * 2, '\0');
  for (size_t i = 0; i < f.size(); ++i) {
    const uint16_t h = dtype == "F16" ? FloatToF16(f[i]) : FloatToBF16(f[i]);
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

inline bool IsProjectionWeight(const std::string& name) {
  for (const HfProjection& p : kHfProjections) {
    const std::string suffix = "." + std::string(p.module) + ".weight";
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  }
  return false;
}

// The fixture's tensors other than the projections, in `dtype`, with their names.
inline std::vector<SyntheticTensor> OtherTensors(const Checkpoint& fixture, const std::vector<std::string>& names,
                                                 const std::string& dtype) {
  std::vector<SyntheticTensor> out;
  for (const std::string& name : names) {
    if (IsProjectionWeight(name)) continue;
    const TensorInfo* t = fixture.Find(name);
    out.push_back({name, dtype, t->shape, TensorBytes(*t, dtype)});
  }
  return out;
}

// The fixture's tensor names (from its index).
inline std::vector<std::string> FixtureTensorNames() {
  const nlohmann::json index = nlohmann::json::parse(ReadFile(TinyModelDir() + "/model.safetensors.index.json"));
  std::vector<std::string> names;
  for (const auto& [name, shard] : index.at("weight_map").items()) names.push_back(name);
  return names;
}

// Writes `dir` (existing) as the tiny fixture quantised per `spec`: config.json with its
// quantization_config, model.safetensors, the tokenizer files. Returns every projection
// written, layer by layer in kHfProjections order.
inline std::vector<QuantizedProjection> WriteHfInt4Checkpoint(const std::string& dir,
                                                              const HfInt4Spec& spec) {
  StatusOr<Checkpoint> fixture = Checkpoint::Open(TinyModelDir());
  EXPECT_TRUE(fixture.ok()) << fixture.status().message();
  std::mt19937 rng(spec.seed);
  const ModelConfig& c = fixture->config();
  std::vector<QuantizedProjection> projections;
  std::vector<SyntheticTensor> tensors = OtherTensors(*fixture, FixtureTensorNames(), spec.other_dtype);
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    std::map<int, std::vector<int32_t>> g_idx_of_input;  // this layer's, by HfProjection::input
    for (const HfProjection& p : kHfProjections) {
      const std::string module = "model.layers." + std::to_string(layer) + "." + std::string(p.module);
      const TensorInfo* t = fixture->Find(module + ".weight");
      std::vector<float> w(static_cast<size_t>(t->numel()));
      ConvertToFloat(t->data, t->dtype, w.data(), w.size());
      const int64_t out = t->shape[0], in = t->shape[1];
      const int64_t group = spec.group_size == kHfGroupPerRow ? in : spec.group_size;
      std::vector<int32_t> g_idx;
      if (p.module == spec.identity_module) {
        g_idx = MakeGIdx(in, group, false, rng);
      } else if (spec.order_per_input && g_idx_of_input.contains(p.input)) {
        g_idx = g_idx_of_input[p.input];
      } else {
        g_idx = g_idx_of_input[p.input] = MakeGIdx(in, group, spec.act_order, rng);
      }
      projections.push_back(QuantizeProjection(module, w.data(), out, in, spec, std::move(g_idx)));
      for (SyntheticTensor& packed : PackProjection(projections.back(), spec)) tensors.push_back(std::move(packed));
    }
  }
  nlohmann::json config = nlohmann::json::parse(ReadFile(TinyModelDir() + "/config.json"));
  config["quantization_config"] = QuantizationConfig(spec);
  config["torch_dtype"] = "float16";
  WriteFile(dir + "/config.json", config.dump(2));
  WriteFile(dir + "/model.safetensors", SyntheticSafetensors(tensors));
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    std::filesystem::copy_file(TinyModelDir() + "/" + name, dir + "/" + name);
  }
  return projections;
}

// Writes `dir` (existing) as the plain checkpoint whose projections are bf16 of the
// references of `projections` and whose other tensors are as WriteHfInt4Checkpoint wrote them.
inline void WriteDequantizedCheckpoint(const std::string& dir,
                                       const std::vector<QuantizedProjection>& projections,
                                       const HfInt4Spec& spec) {
  StatusOr<Checkpoint> fixture = Checkpoint::Open(TinyModelDir());
  EXPECT_TRUE(fixture.ok()) << fixture.status().message();
  std::vector<SyntheticTensor> tensors = OtherTensors(*fixture, FixtureTensorNames(), spec.other_dtype);
  for (const QuantizedProjection& p : projections) {
    std::string bytes(static_cast<size_t>(p.out * p.in) * 2, '\0');
    for (int64_t o = 0; o < p.out; ++o) {
      for (int64_t i = 0; i < p.in; ++i) {
        const uint16_t b = FloatToBF16(p.Reference(o, i));
        std::memcpy(bytes.data() + 2 * (o * p.in + i), &b, 2);
      }
    }
    tensors.push_back({p.module + ".weight", "BF16", {p.out, p.in}, bytes});
  }
  std::filesystem::copy_file(TinyModelDir() + "/config.json", dir + "/config.json");
  WriteFile(dir + "/model.safetensors", SyntheticSafetensors(tensors));
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    std::filesystem::copy_file(TinyModelDir() + "/" + name, dir + "/" + name);
  }
}

}  // namespace strata::testing
