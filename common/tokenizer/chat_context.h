// The variables transformers passes to a chat template (apply_chat_template): `messages`
// (dicts with "role" and "content"), `add_generation_prompt`, `tools` and `documents` (None:
// transformers passes None when the caller gives none), and the special tokens that are set
// (bos_token, eos_token, unk_token, pad_token; unset ones stay undefined).
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "common/jinja/template.h"
#include "common/tokenizer/chat_template.h"

namespace strata {

struct ChatSpecialTokens {
  std::optional<std::string> bos;
  std::optional<std::string> eos;
  std::optional<std::string> unk;
  std::optional<std::string> pad;
};

jinja::Context MakeChatContext(std::span<const ChatMessage> messages, bool add_generation_prompt,
                               const ChatSpecialTokens& tokens);

}  // namespace strata
