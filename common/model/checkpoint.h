// A Hugging Face model directory: config.json plus weights in `model.safetensors` or shards
// listed by `model.safetensors.index.json`. All files are memory-mapped; no weights are copied.
// An AWQ or GPTQ checkpoint (config.json's quantization_config) says so in quantization();
// hf_int4_weights.h converts its projections.
// Thread-safety: immutable after Open.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/model/config.h"
#include "common/model/config_quantization.h"
#include "common/model/safetensors.h"
#include "common/util/status.h"

namespace strata {

class Checkpoint {
 public:
  // Reads DIR/config.json and the weights. Errors name the file: a missing directory,
  // config, weights file or shard that the index lists (kNotFound, saying what was looked
  // for); an index that is malformed or names a shard outside DIR, or a tensor whose shard
  // does not contain it (kDataLoss); a tensor present in two shards (kDataLoss); any
  // SafetensorsFile::Open error; ParseHfQuantization's errors for a quantization_config that
  // Strata does not load.
  static StatusOr<Checkpoint> Open(const std::string& dir);

  Checkpoint(Checkpoint&&) noexcept = default;
  Checkpoint& operator=(Checkpoint&&) noexcept = default;

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  const HfQuantization& quantization() const { return quantization_; }
  size_t num_tensors() const { return by_name_.size(); }
  const TensorInfo* Find(std::string_view name) const;

 private:
  Checkpoint() = default;
  std::string dir_;
  ModelConfig config_;
  HfQuantization quantization_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;  // stable addresses for by_name_
  std::unordered_map<std::string, const TensorInfo*> by_name_;
};

}  // namespace strata
