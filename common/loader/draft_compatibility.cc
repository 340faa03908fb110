// CheckDraftCompatible (see draft_compatibility.h).
#include "common/loader/draft_compatibility.h"

#include <string>
#include <string_view>
#include <vector>

namespace strata {
namespace {

// Text whose ids differ between tokenizers that differ in merges, vocabulary or specials.
constexpr std::string_view kProbe =
    "The quick brown fox, 1234567 times: naïve café, Größe, 東京タワー, "
    "for (int i = 0; i < n; ++i) { x += y; } \t\n  <|begin_of_text|>";

}  // namespace

Status CheckDraftCompatible(const ModelDirectory& target, const ModelDirectory& draft) {
  const std::string which =
      "the draft model " + draft.path + " and the target " + target.path;
  if (draft.config.vocab_size != target.config.vocab_size) {
    return InvalidArgument(which + " have vocabularies of " +
                           std::to_string(draft.config.vocab_size) + " and " +
                           std::to_string(target.config.vocab_size) +
                           " ids: a draft must share the target's tokenizer (for Llama 3.1 "
                           "70B, e.g. Llama 3.2 1B or 3.1 8B)");
  }
  if (draft.tokenizer == nullptr || target.tokenizer == nullptr) {
    return InvalidArgument(which + ": both need their tokenizer.json");
  }
  if (draft.tokenizer->vocab_size() != target.tokenizer->vocab_size()) {
    return InvalidArgument(which + " have tokenizers of " +
                           std::to_string(draft.tokenizer->vocab_size()) + " and " +
                           std::to_string(target.tokenizer->vocab_size()) + " ids");
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<int32_t> a, draft.tokenizer->Encode(kProbe, true));
  STRATA_ASSIGN_OR_RETURN(std::vector<int32_t> b, target.tokenizer->Encode(kProbe, true));
  if (a != b) {
    return InvalidArgument(which + " tokenize the same text differently: a draft must share "
                           "the target's tokenizer");
  }
  return OkStatus();
}

}  // namespace strata
