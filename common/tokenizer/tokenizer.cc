// Tokenizer: reads tokenizer.json into its parts (added tokens, pre-tokenizer, BPE model,
// post-processor), runs them in HF `tokenizers` order to encode, and decodes ids through the
// byte-level alphabet with lossy UTF-8 (the ByteLevel decoder). Only what changes ids is
// supported; other normalizers, decoders, truncation and padding are kUnimplemented.
// Thread-safety: immutable after FromFile/FromJson; every method may run concurrently.
#include "common/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "common/tokenizer/added_tokens.h"
#include "common/tokenizer/bpe.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/json_fields.h"
#include "common/tokenizer/post_processor.h"
#include "common/tokenizer/pretokenizer.h"
#include "common/tokenizer/utf8.h"
#include "common/util/file.h"

namespace strata {

using tokenizer_internal::AddedTokenMatcher;
using tokenizer_internal::BpeModel;
using tokenizer_internal::Json;
using tokenizer_internal::JsonPath;
using tokenizer_internal::PostProcessor;
using tokenizer_internal::PreTokenizer;

namespace {

enum class TokenKind : uint8_t { kNone, kVocab, kAdded, kSpecial };

// Fields that would change ids in ways Strata does not implement must be null.
Status CheckAbsent(const Json& root, const char* field, const char* why, const JsonPath& at) {
  const Json* value = tokenizer_internal::FindMember(root, field);
  if (value == nullptr) return OkStatus();
  return at.Member(field).Unsupported("must be null (" + std::string(why) + "), got " +
                                      tokenizer_internal::Describe(*value));
}

Status CheckUnsupportedParts(const Json& root, const JsonPath& at) {
  STRATA_RETURN_IF_ERROR(CheckAbsent(root, "normalizer", "Strata applies no normalizer", at));
  STRATA_RETURN_IF_ERROR(CheckAbsent(root, "truncation", "Strata does not truncate", at));
  STRATA_RETURN_IF_ERROR(CheckAbsent(root, "padding", "Strata does not pad", at));
  const JsonPath decoder_at = at.Member("decoder");
  const Json* decoder = tokenizer_internal::FindMember(root, "decoder");
  if (decoder == nullptr)
    return decoder_at.Unsupported("is null; Strata needs a ByteLevel decoder");
  STRATA_ASSIGN_OR_RETURN(std::string type,
                          tokenizer_internal::ComponentType(*decoder, decoder_at));
  if (type != "ByteLevel") {
    return decoder_at.Unsupported("type \"" + type +
                                  "\" is not supported; Strata supports the "
                                  "ByteLevel decoder");
  }
  return OkStatus();
}

// What HF's ByteLevel decoder makes of a token: its bytes through the byte-level alphabet, or
// its text as is when a character falls outside the alphabet.
std::string DecodedBytes(const std::string& token) {
  std::optional<std::string> bytes = tokenizer_internal::ByteLevelToBytes(token);
  return bytes ? std::move(*bytes) : token;
}

Status InvalidUtf8(std::string_view text, size_t offset) {
  char byte[8];
  std::snprintf(byte, sizeof(byte), "0x%02X",
                static_cast<unsigned>(static_cast<uint8_t>(text[offset])));
  return InvalidArgument("text is not valid UTF-8: malformed sequence at byte offset " +
                         std::to_string(offset) + " (byte " + byte + ")");
}

StatusOr<Json> ParseJson(std::string_view text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return InvalidArgument(source + ": not valid JSON (" + e.what() +
                           "); it should be the model's Hugging Face tokenizer.json");
  }
}

}  // namespace

struct Tokenizer::Impl {
  BpeModel model;
  PreTokenizer pre_tokenizer;
  AddedTokenMatcher added;
  PostProcessor post;
  std::unordered_map<std::string, int32_t> added_ids;  // added token content -> id
  std::vector<std::string> token_bytes;                // by id: the bytes Decode emits
  std::vector<TokenKind> kinds;                        // by id

  Status BuildIdTables(const JsonPath& at);
  Status EncodeText(std::string_view text, std::vector<int32_t>* ids) const;
  bool Has(int32_t id) const {
    return id >= 0 && static_cast<size_t>(id) < kinds.size() && kinds[id] != TokenKind::kNone;
  }
  Status UnknownId(int32_t id) const {
    return InvalidArgument("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                           std::to_string(kinds.size()) + ")");
  }
};

Status Tokenizer::Impl::BuildIdTables(const JsonPath& at) {
  const tokenizer_internal::Vocabulary& vocab = model.vocabulary();
  size_t limit = static_cast<size_t>(vocab.id_limit());
  for (const auto& token : added.tokens())
    limit = std::max(limit, static_cast<size_t>(token.id) + 1);
  token_bytes.resize(limit);
  kinds.assign(limit, TokenKind::kNone);
  for (int32_t id = 0; id < vocab.id_limit(); ++id) {
    if (const std::string* token = vocab.Token(id)) {
      token_bytes[id] = DecodedBytes(*token);
      kinds[id] = TokenKind::kVocab;
    }
  }
  for (const auto& token : added.tokens()) {  // an added token wins over a vocab entry
    token_bytes[token.id] = DecodedBytes(token.content);
    kinds[token.id] = token.special ? TokenKind::kSpecial : TokenKind::kAdded;
    added_ids.emplace(token.content, token.id);
  }
  for (const auto* side : {&post.prefix, &post.suffix}) {
    for (int32_t id : *side) {
      if (!Has(id)) {
        return at.Member("post_processor")
            .Invalid("adds token id " + std::to_string(id) + ", which no token has");
      }
    }
  }
  return OkStatus();
}

StatusOr<Tokenizer> Tokenizer::FromFile(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return FromJson(text, path);
}

StatusOr<Tokenizer> Tokenizer::FromJson(std::string_view json_text, const std::string& source) {
  STRATA_ASSIGN_OR_RETURN(const Json root, ParseJson(json_text, source));
  if (!root.is_object()) {
    return InvalidArgument(source +
                           ": not a JSON object; it should be the model's Hugging Face "
                           "tokenizer.json");
  }
  const JsonPath at(source, "");
  STRATA_RETURN_IF_ERROR(CheckUnsupportedParts(root, at));
  auto impl = std::make_unique<Impl>();
  STRATA_ASSIGN_OR_RETURN(const Json* model, tokenizer_internal::RequireMember(root, "model", at));
  STRATA_ASSIGN_OR_RETURN(impl->model, BpeModel::FromJson(*model, at.Member("model")));
  STRATA_ASSIGN_OR_RETURN(
      impl->pre_tokenizer,
      PreTokenizer::FromJson(tokenizer_internal::FindMember(root, "pre_tokenizer"),
                             at.Member("pre_tokenizer")));
  STRATA_ASSIGN_OR_RETURN(
      auto added_tokens,
      tokenizer_internal::ParseAddedTokens(tokenizer_internal::FindMember(root, "added_tokens"),
                                           at.Member("added_tokens")));
  STRATA_ASSIGN_OR_RETURN(impl->added, AddedTokenMatcher::Create(std::move(added_tokens)));
  STRATA_ASSIGN_OR_RETURN(impl->post, tokenizer_internal::ParsePostProcessor(
                                          tokenizer_internal::FindMember(root, "post_processor"),
                                          at.Member("post_processor")));
  STRATA_RETURN_IF_ERROR(impl->BuildIdTables(at));
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Status Tokenizer::Impl::EncodeText(std::string_view text, std::vector<int32_t>* ids) const {
  std::vector<tokenizer_internal::Segment> segments;
  STRATA_RETURN_IF_ERROR(added.Split(text, &segments));
  BpeModel::Scratch scratch;
  std::string byte_level;
  const tokenizer_internal::PieceSink encode_piece = [&](std::string_view piece) {
    byte_level.clear();
    tokenizer_internal::AppendByteLevel(piece, &byte_level);
    return model.EncodePiece(byte_level, &scratch, ids);
  };
  for (const auto& segment : segments) {
    if (segment.token_id >= 0) {
      ids->push_back(segment.token_id);
      continue;
    }
    const std::string_view piece = text.substr(segment.begin, segment.end - segment.begin);
    STRATA_RETURN_IF_ERROR(pre_tokenizer.Split(piece, encode_piece));
  }
  return OkStatus();
}

StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text,
                                                 bool add_special_tokens) const {
  if (text.size() > static_cast<size_t>(INT32_MAX)) {  // BPE positions are 32-bit
    return InvalidArgument("text of " + std::to_string(text.size()) +
                           " bytes is too long to encode at once (the limit is 2 GiB)");
  }
  const size_t bad = tokenizer_internal::FindInvalidUtf8(text);
  if (bad != std::string_view::npos) return InvalidUtf8(text, bad);
  const PostProcessor& post = impl_->post;
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + post.prefix.size() + post.suffix.size());
  if (add_special_tokens) ids.insert(ids.end(), post.prefix.begin(), post.prefix.end());
  STRATA_RETURN_IF_ERROR(impl_->EncodeText(text, &ids));
  if (add_special_tokens) ids.insert(ids.end(), post.suffix.begin(), post.suffix.end());
  return ids;
}

StatusOr<std::string> Tokenizer::Decode(std::span<const int32_t> ids,
                                        bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!impl_->Has(id)) return impl_->UnknownId(id);
    if (skip_special_tokens && impl_->kinds[id] == TokenKind::kSpecial) continue;
    bytes += impl_->token_bytes[id];
  }
  std::string text;
  tokenizer_internal::AppendUtf8Lossy(bytes, &text);
  return text;
}

std::optional<std::string> Tokenizer::TokenBytes(int32_t id) const {
  if (!impl_->Has(id)) return std::nullopt;
  return impl_->token_bytes[id];
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  const auto it = impl_->added_ids.find(std::string(token));
  if (it != impl_->added_ids.end()) return it->second;
  return impl_->model.vocabulary().Find(token);
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return impl_->Has(id) && impl_->kinds[id] == TokenKind::kSpecial;
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->kinds.size()); }

}  // namespace strata
