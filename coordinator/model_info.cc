// LoadModelInfo (see model_info.h).
#include "coordinator/model_info.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "common/storage/pack_format.h"
#include "common/storage/pack_manifest.h"
#include "common/util/file.h"

namespace strata::coordinator {
namespace {

namespace fs = std::filesystem;

// generation_config.json's eos_token_id (int or list) added to `ids`; nothing when absent.
Status AddGenerationStopIds(const fs::path& dir, std::vector<int32_t>& ids) {
  const fs::path path = dir / "generation_config.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) return OkStatus();
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path.string()));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgument(path.string() + " is not a JSON object; fix or remove the file");
  }
  const auto eos = j.find("eos_token_id");
  if (eos == j.end() || eos->is_null()) return OkStatus();
  const nlohmann::json list = eos->is_array() ? *eos : nlohmann::json::array({*eos});
  for (const auto& v : list) {
    if (!v.is_number_integer()) {
      return InvalidArgument(path.string() +
                             ": eos_token_id must be an integer or a list of integers");
    }
    const auto id = v.get<int32_t>();
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return OkStatus();
}

// A directory's last component ("/m/Llama-3.1-70B/" -> "Llama-3.1-70B").
std::string DirectoryName(const std::string& dir) {
  const fs::path normal = fs::path(dir).lexically_normal();
  return normal.has_filename() ? normal.filename().string()
                               : normal.parent_path().filename().string();
}

}  // namespace

StatusOr<ModelInfo> LoadModelInfo(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return NotFound("model directory " + dir +
                    " does not exist; give --model a Strata pack or a Hugging Face directory");
  }
  const fs::path root(dir);
  ModelInfo info;
  const std::string dir_name = DirectoryName(dir);
  if (fs::exists(root / "manifest.json", ec)) {
    STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString((root / "manifest.json").string()));
    STRATA_ASSIGN_OR_RETURN(PackManifest manifest, ParsePackManifest(text, "pack " + dir));
    info.config = std::move(manifest.config);
    info.dtype = std::string(PackDTypeName(manifest.dtype));
    if (!manifest.source.empty()) info.names.push_back(DirectoryName(manifest.source));
    if (info.names.empty() || info.names.front() != dir_name) info.names.push_back(dir_name);
  } else if (fs::exists(root / "config.json", ec)) {
    STRATA_ASSIGN_OR_RETURN(info.config, LoadModelConfig((root / "config.json").string()));
    info.names.push_back(dir_name);
  } else {
    return NotFound(dir + " holds neither manifest.json (a Strata pack) nor config.json (a "
                          "Hugging Face model); give --model one of those");
  }
  if (!fs::exists(root / "tokenizer.json", ec)) {
    return NotFound("no tokenizer.json in " + dir +
                    "; copy the model's Hugging Face tokenizer.json there");
  }
  STRATA_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromFile((root / "tokenizer.json").string()));
  info.tokenizer = std::make_shared<const Tokenizer>(std::move(tokenizer));
  StatusOr<ChatTemplate> chat =
      ChatTemplate::FromTokenizerConfig((root / "tokenizer_config.json").string());
  if (chat.ok()) {
    info.chat_template = std::make_shared<const ChatTemplate>(std::move(*chat));
  } else {
    info.chat_template_error = chat.status().message();
  }
  for (int64_t id : info.config.eos_token_ids) info.stop_ids.push_back(static_cast<int32_t>(id));
  STRATA_RETURN_IF_ERROR(AddGenerationStopIds(root, info.stop_ids));
  return info;
}

}  // namespace strata::coordinator
