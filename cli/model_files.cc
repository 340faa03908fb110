// LoadTokenizer and LoadStopIds (see model_files.h).
#include "cli/model_files.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "common/util/file.h"

namespace strata::cli {

StatusOr<Tokenizer> LoadTokenizer(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    return NotFound("model directory " + model_dir + " does not exist");
  }
  const std::string path = (fs::path(model_dir) / "tokenizer.json").string();
  if (!fs::exists(path, ec)) {
    return NotFound("no tokenizer.json in " + model_dir +
                    "; a model directory needs the Hugging Face tokenizer.json");
  }
  return Tokenizer::FromFile(path);
}

StatusOr<std::vector<int64_t>> LoadStopIds(const std::string& model_dir,
                                           const ModelConfig& config) {
  std::vector<int64_t> ids = config.eos_token_ids;
  const std::string path = (std::filesystem::path(model_dir) / "generation_config.json").string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return ids;
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(path + " is not a JSON object; fix or remove the file");
  }
  const auto eos = j.find("eos_token_id");
  if (eos == j.end() || eos->is_null()) return ids;
  auto add = [&](const nlohmann::json& v) -> Status {
    if (!v.is_number_integer()) {
      return InvalidArgument(path + ": eos_token_id must be an integer or a list of integers");
    }
    const int64_t id = v.get<int64_t>();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    return OkStatus();
  };
  if (eos->is_array()) {
    for (const auto& v : *eos) STRATA_RETURN_IF_ERROR(add(v));
  } else {
    STRATA_RETURN_IF_ERROR(add(*eos));
  }
  return ids;
}

}  // namespace strata::cli
