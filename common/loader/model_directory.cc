// The model-directory loader (see model_directory.h).
#include "common/loader/model_directory.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "common/storage/pack_format.h"
#include "common/storage/pack_manifest.h"
#include "common/util/file.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

constexpr char kWhatAModelIs[] =
    "give a Strata pack (strata pack) or a Hugging Face model directory";

// A directory's last component ("/m/Llama-3.1-70B/" -> "Llama-3.1-70B").
std::string DirectoryName(const std::string& dir) {
  const fs::path normal = fs::path(dir).lexically_normal();
  return normal.has_filename() ? normal.filename().string()
                               : normal.parent_path().filename().string();
}

Status RequireDirectory(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return OkStatus();
  return NotFound("model directory " + dir + " does not exist; " + kWhatAModelIs);
}

// generation_config.json's eos_token_id (an id or a list, each below `vocab`) added to `ids`;
// nothing when the file or the field is absent.
Status AddGenerationStopIds(const fs::path& dir, int64_t vocab, std::vector<int32_t>& ids) {
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
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab) {
      return InvalidArgument(path.string() + ": eos_token_id must be a token id below vocab_size " +
                             std::to_string(vocab) + " or a list of them, got " + v.dump());
    }
    const auto id = static_cast<int32_t>(v.get<int64_t>());
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return OkStatus();
}

}  // namespace

bool IsPackDirectory(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / "manifest.json", ec);
}

StatusOr<ModelDirectory> OpenModelDirectory(const std::string& dir) {
  STRATA_RETURN_IF_ERROR(RequireDirectory(dir));
  const fs::path root(dir);
  ModelDirectory m;
  m.path = dir;
  const std::string dir_name = DirectoryName(dir);
  std::error_code ec;
  if (IsPackDirectory(dir)) {
    m.is_pack = true;
    STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString((root / "manifest.json").string()));
    STRATA_ASSIGN_OR_RETURN(PackManifest manifest, ParsePackManifest(text, "pack " + dir));
    m.config = std::move(manifest.config);
    m.dtype = std::string(PackDTypeName(manifest.dtype));
    if (!manifest.source.empty()) m.names.push_back(DirectoryName(manifest.source));
    if (m.names.empty() || m.names.front() != dir_name) m.names.push_back(dir_name);
  } else if (fs::exists(root / "config.json", ec)) {
    STRATA_ASSIGN_OR_RETURN(m.config, LoadModelConfig((root / "config.json").string()));
    m.names.push_back(dir_name);
  } else {
    return NotFound(dir + " holds neither manifest.json (a Strata pack) nor config.json (a "
                          "Hugging Face model); " + kWhatAModelIs);
  }
  return m;
}

StatusOr<ModelDirectory> LoadModelDirectory(const std::string& dir) {
  STRATA_ASSIGN_OR_RETURN(ModelDirectory m, OpenModelDirectory(dir));
  STRATA_ASSIGN_OR_RETURN(Tokenizer tokenizer, LoadTokenizerOf(dir));
  m.tokenizer = std::make_shared<const Tokenizer>(std::move(tokenizer));
  StatusOr<ChatTemplate> chat =
      ChatTemplate::FromTokenizerConfig((fs::path(dir) / "tokenizer_config.json").string());
  if (chat.ok()) {
    m.chat_template = std::make_shared<const ChatTemplate>(std::move(*chat));
  } else {
    m.chat_template_error = chat.status().message();
  }
  for (const int64_t id : m.config.eos_token_ids) m.stop_ids.push_back(static_cast<int32_t>(id));
  STRATA_RETURN_IF_ERROR(AddGenerationStopIds(fs::path(dir), m.config.vocab_size, m.stop_ids));
  return m;
}

StatusOr<Tokenizer> LoadTokenizerOf(const std::string& dir) {
  STRATA_RETURN_IF_ERROR(RequireDirectory(dir));
  const std::string path = (fs::path(dir) / "tokenizer.json").string();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return NotFound("no tokenizer.json in " + dir +
                    "; copy the model's Hugging Face tokenizer.json there");
  }
  return Tokenizer::FromFile(path);
}

}  // namespace strata
