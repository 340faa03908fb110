// OutputText (see output_text.h).
#include "coordinator/output_text.h"

#include <algorithm>

namespace strata::coordinator {

OutputText::OutputText(const Tokenizer& tokenizer, std::vector<std::string> stop)
    : decoder_(tokenizer, /*skip_special_tokens=*/true), stop_(std::move(stop)) {}

StatusOr<std::string> OutputText::Push(int32_t id) {
  if (stopped_) return std::string();
  STRATA_ASSIGN_OR_RETURN(std::string piece, decoder_.Push(id));
  ++ids_;
  held_ += piece;
  return Release();
}

std::string OutputText::Finish() {
  if (stopped_) return std::string();
  held_ += decoder_.Flush();
  std::string text = Release();
  if (!stopped_) {
    text += held_;
    held_.clear();
  }
  return text;
}

// Returns what of held_ is final: up to the earliest stop string (then stopped), else all
// but the longest tail that begins some stop string.
std::string OutputText::Release() {
  size_t cut = std::string::npos;
  for (const std::string& s : stop_) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    std::string text = held_.substr(0, cut);
    held_.clear();
    stopped_ = true;
    return text;
  }
  size_t keep = 0;
  for (const std::string& s : stop_) {
    // Longest k < |s| with held_'s last k bytes equal to s's first k.
    for (size_t k = std::min(held_.size(), s.size() - 1); k > keep; --k) {
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  std::string text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return text;
}

}  // namespace strata::coordinator
