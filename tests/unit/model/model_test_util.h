// Helpers for the model tests: a per-test temporary directory, file writing, synthetic
// safetensors files, a tiny single-file Llama checkpoint and editable fixture copies.
// Thread-safety: test-only, used from one thread.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {

// A fresh directory under ::testing::TempDir(), unique to the test, removed on destruction.

inline void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The bytes of a safetensors file: the 8-byte little-endian length of `header_text`, the
// header, then `data`.
inline std::string SafetensorsBytes(std::string_view header_text, std::string_view data) {
  std::string out(8, '\0');
  uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header_text;
  out += data;
  return out;
}

struct SyntheticTensor {
  std::string name;
  std::string dtype;  // safetensors spelling
  std::vector<int64_t> shape;
  std::string data;  // raw bytes
};

// The header (with data_offsets laid out back to back) and data for `tensors`.
inline nlohmann::json SyntheticHeader(const std::vector<SyntheticTensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  size_t offset = 0;
  for (const SyntheticTensor& t : tensors) {
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  return header;
}

inline std::string SyntheticData(const std::vector<SyntheticTensor>& tensors) {
  std::string data;
  for (const SyntheticTensor& t : tensors) data += t.data;
  return data;
}

inline std::string SyntheticSafetensors(const std::vector<SyntheticTensor>& tensors) {
  return SafetensorsBytes(SyntheticHeader(tensors).dump(), SyntheticData(tensors));
}

// `numel` little-endian F32 values start, start+1, ...
inline std::string F32Data(int64_t numel, float start = 0.0f) {
  std::string out(static_cast<size_t>(numel) * 4, '\0');
  for (int64_t i = 0; i < numel; ++i) {
    float v = start + static_cast<float>(i);
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

// A tiny Llama: hidden 8, 2 layers, 2 heads of 4, 1 kv head, MLP 16, vocab 32.
inline nlohmann::json TinyLlamaConfig() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_act", "silu"},
          {"hidden_size", 8},
          {"intermediate_size", 16},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"vocab_size", 32},
          {"max_position_embeddings", 128},
          {"rms_norm_eps", 1e-5},
          {"tie_word_embeddings", false}};
}

// Fills a tensor's F32 bytes: `numel` values for the `index`-th tensor of the model.
using TensorFill = std::function<std::string(int64_t numel, size_t index)>;

// The F32 tensors of TinyLlamaConfig() with `layers` layers, lm_head when `with_lm_head`,
// values from `fill` (default: F32Data's ramp).
inline std::vector<SyntheticTensor> TinyLlamaTensors(bool with_lm_head, int layers = 2,
                                                     const TensorFill& fill = {}) {
  std::vector<SyntheticTensor> t;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    t.push_back({name, "F32", shape,
                 fill ? fill(numel, t.size()) : F32Data(numel, static_cast<float>(t.size()))});
  };
  add("model.embed_tokens.weight", {32, 8});
  for (int i = 0; i < layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {8});
    add(p + "self_attn.q_proj.weight", {8, 8});
    add(p + "self_attn.k_proj.weight", {4, 8});
    add(p + "self_attn.v_proj.weight", {4, 8});
    add(p + "self_attn.o_proj.weight", {8, 8});
    add(p + "post_attention_layernorm.weight", {8});
    add(p + "mlp.gate_proj.weight", {16, 8});
    add(p + "mlp.up_proj.weight", {16, 8});
    add(p + "mlp.down_proj.weight", {8, 16});
  }
  add("model.norm.weight", {8});
  if (with_lm_head) add("lm_head.weight", {32, 8});
  return t;
}

// Writes config.json and model.safetensors into `dir`.
inline void WriteTinyLlama(const std::string& dir, const nlohmann::json& config,
                           const std::vector<SyntheticTensor>& tensors) {
  WriteFile(dir + "/config.json", config.dump());
  WriteFile(dir + "/model.safetensors", SyntheticSafetensors(tensors));
}

// Makes `dir` a copy of the fixture model that tests may edit: config.json and the index are
// copied, the shards are symlinked.
inline void CopyFixtureModel(const std::string& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(TinyModelDir())) {
    const std::string name = entry.path().filename().string();
    if (name == "config.json" || name == "model.safetensors.index.json") {
      std::filesystem::copy_file(entry.path(), dir + "/" + name);
    } else if (entry.path().extension() == ".safetensors") {
      std::filesystem::create_symlink(entry.path(), dir + "/" + name);
    }
  }
}

// Rewrites the JSON file at `path` through `edit`.
template <typename Edit>
void EditJsonFile(const std::string& path, Edit edit) {
  nlohmann::json j = nlohmann::json::parse(ReadFile(path));
  edit(j);
  WriteFile(path, j.dump(2));
}

}  // namespace strata::testing
