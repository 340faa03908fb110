// MakeChatContext; see chat_context.h.
#include "common/tokenizer/chat_context.h"

namespace strata {

jinja::Context MakeChatContext(std::span<const ChatMessage> messages, bool add_generation_prompt,
                               const ChatSpecialTokens& tokens) {
  using jinja::Dict;
  using jinja::Value;
  std::vector<Value> list;
  list.reserve(messages.size());
  for (const ChatMessage& m : messages) {
    Dict message;
    message.entries.emplace_back(Value::Str("role"), Value::Str(m.role));
    message.entries.emplace_back(Value::Str("content"), Value::Str(m.content));
    list.push_back(Value::MakeDict(std::move(message)));
  }
  jinja::Context context = {
      {"messages", Value::MakeList(std::move(list))},
      {"tools", Value::None()},
      {"documents", Value::None()},
      {"add_generation_prompt", Value::Bool(add_generation_prompt)},
  };
  auto add_token = [&](const char* name, const std::optional<std::string>& token) {
    if (token) context.emplace_back(name, Value::Str(*token));
  };
  add_token("bos_token", tokens.bos);
  add_token("eos_token", tokens.eos);
  add_token("unk_token", tokens.unk);
  add_token("pad_token", tokens.pad);
  return context;
}

}  // namespace strata
