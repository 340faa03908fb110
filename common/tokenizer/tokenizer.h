// Byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (the Llama 3 family):
// added/special tokens matched inside text, the pre-tokenizer's split regex run with PCRE2
// (UTF + UCP), byte-to-unicode mapping, BPE merges by rank (with `ignore_merges`), and the
// post-processor's template (BOS). Decoding maps ids back to bytes.
// Thread-safety: immutable after FromFile/FromJson; Encode/Decode may run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace strata {

class Tokenizer {
 public:
  // Errors name the file and the field at fault (unsupported model type, pre-tokenizer,
  // a merge naming an unknown token, a regex PCRE2 rejects, ...).
  static StatusOr<Tokenizer> FromFile(const std::string& path);
  static StatusOr<Tokenizer> FromJson(std::string_view json_text, const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Encodes UTF-8 text. `add_special_tokens` applies the post-processor (Llama 3: BOS first),
  // as HF's `encode(text, add_special_tokens=...)`. Special-token strings inside the text
  // (e.g. "<|eot_id|>") become their ids. Invalid UTF-8 is kInvalidArgument with the byte
  // offset.
  StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const;

  // Decodes ids to UTF-8, as HF's `decode`. Bytes that do not form valid UTF-8 (a token cut
  // inside a character) become U+FFFD. Ids out of range are kInvalidArgument.
  StatusOr<std::string> Decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // The raw bytes of one token (special tokens: their text). nullopt when out of range.
  std::optional<std::string> TokenBytes(int32_t id) const;
  std::optional<int32_t> TokenToId(std::string_view token) const;  // vocab or added token
  bool IsSpecial(int32_t id) const;
  int32_t vocab_size() const;  // largest id + 1, added tokens included

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of ids into text pieces that are always whole UTF-8 characters: bytes of a
// character split across tokens are held back until it completes. Special tokens are skipped
// or emitted per `skip_special_tokens`. Thread-safety: one instance per stream.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);
  // Returns the text that became complete with this id (possibly empty).
  StatusOr<std::string> Push(int32_t id);
  // Returns what is still held back, incomplete characters as U+FFFD, and resets.
  std::string Flush();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete UTF-8 character
};

}  // namespace strata
