// Fuzz target: a chat template's Jinja source (common/jinja through ChatTemplate), parsed and
// rendered over a fixed three-message conversation with and without the generation prompt.
// Parse errors, `raise_exception` and type errors are a Status; the interpreter's limits
// (common/jinja/limits.h) bound loops, recursion and output. Thread-safety: libFuzzer's one
// input at a time.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/tokenizer/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  strata::StatusOr<strata::ChatTemplate> chat =
      strata::ChatTemplate::FromTemplate(source, "<|begin_of_text|>", "<|eot_id|>");
  if (!chat.ok()) return 0;
  static const std::vector<strata::ChatMessage> messages = {
      {"system", "You are terse."}, {"user", "Hi {{ there }} {% raw %}"}, {"assistant", "Hello."}};
  for (bool prompt : {false, true}) (void)chat->Render(messages, prompt);
  return 0;
}
