// Fuzz target: the body of POST /v1/completions and POST /v1/chat/completions through
// ParseCompletionRequest, for both endpoints. A body it refuses must carry a 400 naming
// the field; one it accepts must respect the limits the coordinator relies on (stop
// strings, prompt ids inside the vocabulary); otherwise the target aborts.
// Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "coordinator/completion_request.h"

namespace {

constexpr int32_t kVocabSize = 128256;  // the fixture's (Llama 3)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace strata::coordinator;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  static const std::string kNames[] = {"tiny-llama31"};
  for (Endpoint endpoint : {Endpoint::kCompletions, Endpoint::kChatCompletions}) {
    ApiError error;
    const std::optional<CompletionRequest> request =
        ParseCompletionRequest(body, endpoint, kNames, kVocabSize, error);
    if (!request) {
      if (error.http_status != 400 || error.message.empty()) std::abort();
      continue;
    }
    if (request->stop.size() > static_cast<size_t>(kMaxStopStrings)) std::abort();
    for (const std::string& stop : request->stop) {
      if (stop.size() > kMaxStopBytes) std::abort();
    }
    if (request->prompt_ids) {
      for (int32_t id : *request->prompt_ids) {
        if (id < 0 || id >= kVocabSize) std::abort();
      }
    }
  }
  return 0;
}
