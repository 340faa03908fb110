// Chat formatting with the model's own Jinja chat template (`chat_template` in
// tokenizer_config.json), rendered as Hugging Face transformers does (trim_blocks,
// lstrip_blocks, loop controls, `tojson` without ASCII escaping, `raise_exception`,
// `strftime_now`). Thread-safety: immutable after load; Render may run concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace strata {

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", ...
  std::string content;
};

class ChatTemplate {
 public:
  // Reads `chat_template` (a string, or a list of {name, template}: the one named "default"),
  // `bos_token` and `eos_token` (strings or {content: ...} objects) from tokenizer_config.json.
  // A template the interpreter cannot parse is kInvalidArgument with line and column.
  static StatusOr<ChatTemplate> FromTokenizerConfig(const std::string& path);
  static StatusOr<ChatTemplate> FromJson(std::string_view json_text, const std::string& source);
  static StatusOr<ChatTemplate> FromTemplate(std::string_view jinja_source, std::string bos_token,
                                             std::string eos_token);

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

  // Renders the conversation; tokenize the result with add_special_tokens=false (the template
  // writes BOS itself). Errors from `raise_exception` or a type error in the template are
  // kInvalidArgument with the message and the template location.
  StatusOr<std::string> Render(std::span<const ChatMessage> messages,
                               bool add_generation_prompt) const;

 private:
  struct Impl;
  explicit ChatTemplate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses a JSON list of {"role": ..., "content": ...} (the --chat file and the API's
// `messages`). Errors name the element index and field.
StatusOr<std::vector<ChatMessage>> ParseChatMessages(std::string_view json_text,
                                                     const std::string& source);

}  // namespace strata
