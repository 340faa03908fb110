// Helpers for the storage tests: per-test temporary directories, a small synthetic model,
// packs made once per process (the fixture and the small model, bf16 and fp8, shared
// read-only), copies of a pack that a test may corrupt, whole-file reads and aligned buffers.
// Thread-safety: test-only, used from one thread.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/storage/pack_writer.h"
#include "tests/unit/model/model_test_util.h"

namespace strata::testing {


// A small synthetic Llama in `dir` (config.json + model.safetensors): the shapes of
// TinyLlamaConfig (hidden 8, 2 heads of 4, 1 KV head, MLP 16, vocab 32) with `layers` layers,
// F32 weights of varied magnitudes. Packs of it take milliseconds.
inline void WriteSmallModel(const std::string& dir, int layers, bool tied) {
  nlohmann::json config = TinyLlamaConfig();
  config["num_hidden_layers"] = layers;
  config["tie_word_embeddings"] = tied;
  // Varied magnitudes (2^-2 .. 2^2) so fp8 rounding is exercised across exponents.
  const TensorFill varied = [](int64_t numel, size_t index) {
    std::string data(static_cast<size_t>(numel) * 4, '\0');
    for (int64_t i = 0; i < numel; ++i) {
      const float v = std::sin(static_cast<float>(i * 7 + static_cast<int64_t>(index) * 13)) *
                      std::ldexp(1.0f, static_cast<int>(i % 5) - 2);
      std::memcpy(data.data() + 4 * i, &v, 4);
    }
    return data;
  };
  const std::vector<SyntheticTensor> tensors = TinyLlamaTensors(!tied, layers, varied);
  WriteTinyLlama(dir, config, tensors);
}

// Packs, made once per process and shared read-only; tests must not modify them.
//   FixturePack: the committed 6-layer fixture (tests/fixtures/tiny-llama31).
//   SmallPack:   WriteSmallModel with 4 untied layers.
// int4 packs use kTestInt4GroupSize, which divides both models' projection inputs (8 and 16
// columns for the small one).
inline constexpr int64_t kTestInt4GroupSize = 8;

inline const std::string& PackOnce(const std::string& model_dir, const std::string& name,
                                   PackDType dtype) {
  static TempDir dir("shared");
  static std::map<std::string, std::string> packs;
  const std::string key = name + "_" + std::string(PackDTypeName(dtype));
  auto it = packs.find(key);
  if (it == packs.end()) {
    PackOptions o;
    o.model_dir = model_dir;
    o.out_dir = dir.File(key);
    o.dtype = dtype;
    o.group_size = kTestInt4GroupSize;
    StatusOr<PackResult> r = WritePack(o);
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      std::abort();
    }
    it = packs.emplace(key, o.out_dir).first;
  }
  return it->second;
}

inline const std::string& FixturePack(PackDType dtype) {
  return PackOnce(TinyModelDir(), "fixture", dtype);
}

inline const std::string& SmallPack(PackDType dtype) {
  static TempDir model("small_model");
  static const bool written = (WriteSmallModel(model.path(), 4, /*tied=*/false), true);
  (void)written;
  return PackOnce(model.path(), "small", dtype);
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// Makes `to` a copy of the pack `from`: the manifest is copied; weights.bin is copied when
// `copy_data` (the test will change it), else symlinked.
inline void CopyPack(const std::string& from, const std::string& to, bool copy_data) {
  namespace fs = std::filesystem;
  fs::create_directories(to);
  fs::copy_file(from + "/manifest.json", to + "/manifest.json");
  if (copy_data) {
    fs::copy_file(from + "/weights.bin", to + "/weights.bin");
  } else {
    fs::create_symlink(fs::absolute(from + "/weights.bin"), to + "/weights.bin");
  }
}

// A buffer aligned for O_DIRECT, freed on destruction.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes)
      : bytes_(bytes), data_(static_cast<std::byte*>(std::aligned_alloc(4096, bytes))) {}
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }
  std::byte* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  size_t bytes_;
  std::byte* data_;
};

}  // namespace strata::testing
