// ChatTemplate and ParseChatMessages: the chat template and special tokens from
// tokenizer_config.json (or a chat_template.jinja next to it, where newer checkpoints keep
// it), rendered by the Jinja interpreter in jinja/ with the variables transformers passes.
#include "common/tokenizer/chat_template.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/tokenizer/chat_context.h"
#include "common/jinja/template.h"
#include "common/util/file.h"

namespace strata {

struct ChatTemplate::Impl {
  jinja::Template tmpl;
  ChatSpecialTokens tokens;
};

namespace {

constexpr std::string_view kPrefix = "chat template";

struct ChatConfig {
  std::optional<std::string> template_source;  // nullopt: the config has none
  ChatSpecialTokens tokens;
};

// A special token: a string, an AddedToken object {"content": ...}, or absent/null.
StatusOr<std::optional<std::string>> ReadToken(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) {
      return std::optional<std::string>(content->get<std::string>());
    }
  }
  return InvalidArgument(std::string("\"") + key +
                         "\" must be a string or an object with a \"content\" string");
}

// `chat_template` as a string, or the entry named "default" of a list of {name, template}.
StatusOr<std::optional<std::string>> ReadTemplate(const nlohmann::json& config) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (!it->is_array()) {
    return InvalidArgument(
        "\"chat_template\" must be a string or a list of {\"name\", \"template\"}");
  }
  std::string names;
  for (const auto& entry : *it) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
        !entry.contains("template") || !entry["template"].is_string()) {
      return InvalidArgument(
          "each \"chat_template\" entry must be {\"name\": string, \"template\": string}");
    }
    std::string name = entry["name"].get<std::string>();
    if (name == "default") return std::optional<std::string>(entry["template"].get<std::string>());
    names += (names.empty() ? "'" : ", '") + name + "'";
  }
  return NotFound("the model has no chat template named 'default' (available: " +
                  (names.empty() ? std::string("none") : names) + ")");
}

StatusOr<nlohmann::json> ParseJson(std::string_view text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("invalid JSON: ") + e.what());
  }
}

StatusOr<ChatConfig> ReadChatConfig(std::string_view json_text) {
  STRATA_ASSIGN_OR_RETURN(nlohmann::json config, ParseJson(json_text));
  if (!config.is_object()) return InvalidArgument("expected a JSON object");
  ChatConfig out;
  STRATA_ASSIGN_OR_RETURN(out.template_source, ReadTemplate(config));
  STRATA_ASSIGN_OR_RETURN(out.tokens.bos, ReadToken(config, "bos_token"));
  STRATA_ASSIGN_OR_RETURN(out.tokens.eos, ReadToken(config, "eos_token"));
  STRATA_ASSIGN_OR_RETURN(out.tokens.unk, ReadToken(config, "unk_token"));
  STRATA_ASSIGN_OR_RETURN(out.tokens.pad, ReadToken(config, "pad_token"));
  return out;
}

Status NoTemplate() {
  return NotFound(
      "the model has no chat template (tokenizer_config.json has no \"chat_template\"); use a "
      "plain prompt instead of chat messages");
}

std::string Directory(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The text of one message's "content": a string, or a list of {"type": "text", "text": ...}
// parts joined with newlines (as OpenAI-compatible servers such as vLLM join them).
StatusOr<std::string> ReadContent(const nlohmann::json& content, const std::string& where) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    return InvalidArgument(where + ": must be a string or a list of text parts, got " +
                           std::string(content.type_name()));
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const auto& part = content[i];
    std::string part_where = where + "[" + std::to_string(i) + "]";
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return InvalidArgument(part_where + ": expected an object with a \"type\"");
    }
    std::string type = part["type"].get<std::string>();
    if (type != "text") {
      return InvalidArgument(part_where + ": content parts of type \"" + type +
                             "\" are not supported (only \"text\")");
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      return InvalidArgument(part_where + ".text: must be a string");
    }
    if (i > 0) text += '\n';
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

StatusOr<ChatTemplate> ChatTemplate::FromTokenizerConfig(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  StatusOr<ChatConfig> config = ReadChatConfig(text);
  if (!config.ok()) return config.status().WithContext(path);
  if (!config->template_source) {
    std::string sibling = Directory(path) + "/chat_template.jinja";
    StatusOr<std::string> jinja_text = ReadFileToString(sibling);
    if (!jinja_text.ok()) return NoTemplate().WithContext(path);
    StatusOr<ChatTemplate> t = FromTemplate(*jinja_text, "", "");
    if (!t.ok()) return t.status().WithContext(sibling);
    t->impl_->tokens = std::move(config->tokens);
    return t;
  }
  StatusOr<ChatTemplate> t = FromTemplate(*config->template_source, "", "");
  if (!t.ok()) return t.status().WithContext(path);
  t->impl_->tokens = std::move(config->tokens);
  return t;
}

StatusOr<ChatTemplate> ChatTemplate::FromJson(std::string_view json_text,
                                              const std::string& source) {
  StatusOr<ChatConfig> config = ReadChatConfig(json_text);
  if (!config.ok()) return config.status().WithContext(source);
  if (!config->template_source) return NoTemplate().WithContext(source);
  StatusOr<ChatTemplate> t = FromTemplate(*config->template_source, "", "");
  if (!t.ok()) return t.status().WithContext(source);
  t->impl_->tokens = std::move(config->tokens);
  return t;
}

// An empty token is treated as absent (undefined in the template), like a config without it.
StatusOr<ChatTemplate> ChatTemplate::FromTemplate(std::string_view jinja_source,
                                                  std::string bos_token, std::string eos_token) {
  StatusOr<jinja::Template> tmpl = jinja::Template::Parse(jinja_source);
  if (!tmpl.ok()) return tmpl.status().WithContext(kPrefix);
  auto impl = std::make_unique<Impl>(Impl{std::move(*tmpl), {}});
  if (!bos_token.empty()) impl->tokens.bos = std::move(bos_token);
  if (!eos_token.empty()) impl->tokens.eos = std::move(eos_token);
  return ChatTemplate(std::move(impl));
}

StatusOr<std::string> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                           bool add_generation_prompt) const {
  jinja::Context context = MakeChatContext(messages, add_generation_prompt, impl_->tokens);
  StatusOr<std::string> text = impl_->tmpl.Render(context);
  if (!text.ok()) return text.status().WithContext(kPrefix);
  return text;
}

StatusOr<std::vector<ChatMessage>> ParseChatMessages(std::string_view json_text,
                                                     const std::string& source) {
  StatusOr<nlohmann::json> parsed = ParseJson(json_text);
  if (!parsed.ok()) return parsed.status().WithContext(source);
  const nlohmann::json& json = *parsed;
  if (!json.is_array()) return InvalidArgument(source + ": expected a JSON list of messages");
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < json.size(); ++i) {
    const auto& m = json[i];
    std::string where = source + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object())
      return InvalidArgument(where + ": expected an object with \"role\" and \"content\"");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      return InvalidArgument(where + ".role: must be a string");
    auto content = m.find("content");
    if (content == m.end()) return InvalidArgument(where + ".content: missing");
    STRATA_ASSIGN_OR_RETURN(std::string text, ReadContent(*content, where + ".content"));
    messages.push_back(ChatMessage{role->get<std::string>(), std::move(text)});
  }
  return messages;
}

}  // namespace strata
