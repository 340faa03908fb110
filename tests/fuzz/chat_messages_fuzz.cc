// Fuzz target: the conversation a client sends (the API's `messages`, `strata generate
// --chat`): ParseChatMessages on the bytes, then, when they parse, the tiny fixture's own
// chat template (tokenizer_config.json) renders them. Thread-safety: libFuzzer's one input at
// a time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/tokenizer/chat_template.h"

namespace {

const strata::ChatTemplate& Fixture() {
  static const strata::ChatTemplate chat = [] {
    strata::StatusOr<strata::ChatTemplate> t = strata::ChatTemplate::FromTokenizerConfig(
        STRATA_TEST_FIXTURES "/tiny-llama31/tokenizer_config.json");
    if (!t.ok()) std::abort();
    return std::move(t).value();
  }();
  return chat;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  strata::StatusOr<std::vector<strata::ChatMessage>> messages =
      strata::ParseChatMessages(text, "fuzz");
  if (!messages.ok()) return 0;
  for (bool prompt : {false, true}) (void)Fixture().Render(*messages, prompt);
  return 0;
}
