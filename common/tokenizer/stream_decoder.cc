// StreamDecoder: incremental decoding that only ever emits whole UTF-8 characters; its output,
// concatenated and followed by Flush, equals Tokenizer::Decode of all the ids.
// Thread-safety: one instance per stream.
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/utf8.h"

namespace strata {

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

StatusOr<std::string> StreamDecoder::Push(int32_t id) {
  std::optional<std::string> bytes = tokenizer_->TokenBytes(id);
  if (!bytes) return tokenizer_->Decode({&id, 1}, skip_special_).status();  // its error for `id`
  if (skip_special_ && tokenizer_->IsSpecial(id)) return std::string();
  pending_ += *bytes;
  // Hold back a character that the next token may complete; everything before it is final.
  const size_t ready = pending_.size() - tokenizer_internal::IncompleteUtf8Tail(pending_);
  std::string text;
  tokenizer_internal::AppendUtf8Lossy(std::string_view(pending_).substr(0, ready), &text);
  pending_.erase(0, ready);
  return text;
}

std::string StreamDecoder::Flush() {
  std::string text;
  tokenizer_internal::AppendUtf8Lossy(pending_, &text);
  pending_.clear();
  return text;
}

}  // namespace strata
