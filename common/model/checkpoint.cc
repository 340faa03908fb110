// Checkpoint::Open: config.json plus either model.safetensors or the shards that
// model.safetensors.index.json lists, each shard opened once and cross-checked against the
// index. Thread-safety: a Checkpoint is immutable after Open.
#include "common/model/checkpoint.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include "common/util/file.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kRedownload[] = "; the download is incomplete or corrupt; re-download the model";

std::string JoinPath(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// A shard name from an index must name a file directly inside the model directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

}  // namespace

StatusOr<Checkpoint> Checkpoint::Open(const std::string& dir) {
  if (!Exists(dir)) {
    return NotFound("model directory " + dir + " does not exist; check the path");
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return InvalidArgument(dir + " is not a directory; pass the model directory that holds " +
                           "config.json and the safetensors files");
  }
  Checkpoint c;
  c.dir_ = dir;
  const std::string config_path = JoinPath(dir, "config.json");
  if (!Exists(config_path)) {
    return NotFound("no config.json in model directory " + dir +
                    "; a Hugging Face model directory holds config.json next to the weights");
  }
  STRATA_ASSIGN_OR_RETURN(const std::string config_text, ReadFileToString(config_path));
  STRATA_ASSIGN_OR_RETURN(c.config_, ParseModelConfig(config_text, config_path));
  STRATA_ASSIGN_OR_RETURN(c.quantization_,
                          ParseHfQuantization(config_text, config_path, c.config_));

  const std::string index_path = JoinPath(dir, "model.safetensors.index.json");
  const std::string single_path = JoinPath(dir, "model.safetensors");
  if (!Exists(index_path)) {
    if (!Exists(single_path)) {
      return NotFound("no model.safetensors or model.safetensors.index.json in " + dir +
                      "; download the model's safetensors weights into it");
    }
    STRATA_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(single_path));
    c.files_.push_back(std::make_unique<SafetensorsFile>(std::move(file)));
    for (const TensorInfo& t : c.files_.back()->tensors()) c.by_name_[t.name] = &t;
    return c;
  }

  STRATA_ASSIGN_OR_RETURN(std::string index_text, ReadFileToString(index_path));
  const Json index = Json::parse(index_text, nullptr, /*allow_exceptions=*/false);
  const Json* weight_map = nullptr;
  if (!index.is_discarded() && index.is_object()) {
    auto it = index.find("weight_map");
    if (it != index.end() && it->is_object()) weight_map = &*it;
  }
  if (weight_map == nullptr || weight_map->empty()) {
    return DataLoss(index_path + ": not a JSON object with a non-empty \"weight_map\" object" +
                    kRedownload);
  }
  std::map<std::string, const SafetensorsFile*> shards;
  for (const auto& [name, shard_json] : weight_map->items()) {
    if (!shard_json.is_string() || !IsPlainFileName(shard_json.get<std::string>())) {
      return DataLoss(index_path + ": weight_map maps tensor '" + name + "' to " +
                      shard_json.dump() + ", which is not a file name in the model directory" +
                      kRedownload);
    }
    const std::string shard = shard_json.get<std::string>();
    auto [it, inserted] = shards.try_emplace(shard, nullptr);
    if (inserted) {
      const std::string shard_path = JoinPath(dir, shard);
      if (!Exists(shard_path)) {
        return NotFound("shard " + shard + ", listed in " + index_path + ", does not exist in " +
                        dir + kRedownload);
      }
      STRATA_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(shard_path));
      c.files_.push_back(std::make_unique<SafetensorsFile>(std::move(file)));
      it->second = c.files_.back().get();
    }
    const TensorInfo* tensor = it->second->Find(name);
    if (tensor == nullptr) {
      return DataLoss("tensor '" + name + "' is listed in " + index_path + " as being in shard " +
                      shard + ", but " + it->second->path() + " does not contain it" + kRedownload);
    }
    c.by_name_[name] = tensor;
  }
  for (const auto& file : c.files_) {
    for (const TensorInfo& t : file->tensors()) {
      auto listed = c.by_name_.find(t.name);
      if (listed != c.by_name_.end() && listed->second != &t) {
        return DataLoss("tensor '" + t.name + "' is in both " + listed->second->file + " and " +
                        t.file + kRedownload);
      }
    }
  }
  return c;
}

const TensorInfo* Checkpoint::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

}  // namespace strata
