// Added-token parsing and matching; see added_tokens.h. Thread-safety: immutable after Create.
#include "common/tokenizer/added_tokens.h"

#include <algorithm>
#include <unordered_map>

#include "common/tokenizer/utf8.h"

namespace strata::tokenizer_internal {
namespace {

// Rust regex's Unicode \w (UTS #18), which HF uses for single_word.
constexpr char kWordCharPattern[] = R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])";

// Unicode White_Space, Rust regex's \s, which HF uses for lstrip and rstrip.
bool IsWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Where the run of whitespace that ends `text` starts.
size_t TrailingSpaceStart(std::string_view text) {
  size_t start = text.size();
  while (start > 0) {
    const size_t c = LastCharStart(text.substr(0, start));
    if (!IsWhiteSpace(DecodeUtf8(text.substr(c)).code_point)) break;
    start = c;
  }
  return start;
}

// The length of the run of whitespace that starts `text`.
size_t LeadingSpaceLength(std::string_view text) {
  size_t end = 0;
  while (end < text.size()) {
    const Utf8Step step = DecodeUtf8(text.substr(end));
    if (!IsWhiteSpace(step.code_point)) break;
    end += step.length;
  }
  return end;
}

StatusOr<AddedToken> ParseAddedToken(const Json& node, const JsonPath& at) {
  if (!node.is_object()) return at.Invalid("must be an object, got " + Describe(node));
  AddedToken token;
  STRATA_ASSIGN_OR_RETURN(const Json* id, RequireMember(node, "id", at));
  STRATA_ASSIGN_OR_RETURN(token.id, ReadId(*id, at.Member("id")));
  STRATA_ASSIGN_OR_RETURN(token.content, RequireString(node, "content", at));
  if (token.content.empty()) return at.Member("content").Invalid("must not be empty");
  STRATA_ASSIGN_OR_RETURN(token.special, OptionalBool(node, "special", false, at));
  STRATA_ASSIGN_OR_RETURN(token.single_word, OptionalBool(node, "single_word", false, at));
  STRATA_ASSIGN_OR_RETURN(token.lstrip, OptionalBool(node, "lstrip", false, at));
  STRATA_ASSIGN_OR_RETURN(token.rstrip, OptionalBool(node, "rstrip", false, at));
  STRATA_ASSIGN_OR_RETURN(token.normalized, OptionalBool(node, "normalized", !token.special, at));
  return token;
}

}  // namespace

StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Json* node, const JsonPath& at) {
  std::vector<AddedToken> tokens;
  if (node == nullptr) return tokens;
  if (!node->is_array()) return at.Invalid("must be an array, got " + Describe(*node));
  tokens.reserve(node->size());
  std::unordered_map<int32_t, size_t> index_of_id;
  for (size_t i = 0; i < node->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(AddedToken token, ParseAddedToken((*node)[i], at.Element(i)));
    const auto [it, fresh] = index_of_id.emplace(token.id, i);
    if (!fresh) {
      return at.Element(i).Member("id").Invalid("is " + std::to_string(token.id) +
                                                ", the id of added_tokens[" +
                                                std::to_string(it->second) + "] too");
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

void TokenTrie::Insert(std::string_view key, int32_t value) {
  int32_t node = 0;
  for (char c : key) {
    const auto byte = static_cast<uint8_t>(c);
    int32_t next = Child(node, byte);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.emplace_back();
      if (node == 0) root_children_[byte] = next;
      nodes_[node].children.emplace_back(byte, next);
    }
    node = next;
  }
  if (nodes_[node].value < 0) nodes_[node].value = value;
}

int32_t TokenTrie::Child(int32_t node, uint8_t byte) const {
  if (node == 0) return root_children_[byte];
  for (const auto& [b, child] : nodes_[node].children) {
    if (b == byte) return child;
  }
  return -1;
}

std::pair<size_t, int32_t> TokenTrie::LongestAt(std::string_view text, size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    node = Child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    if (nodes_[node].value >= 0) best = {i + 1 - pos, nodes_[node].value};
  }
  return best;
}

StatusOr<AddedTokenMatcher> AddedTokenMatcher::Create(std::vector<AddedToken> tokens) {
  AddedTokenMatcher matcher;
  matcher.tokens_ = std::move(tokens);
  for (size_t i = 0; i < matcher.tokens_.size(); ++i) {
    const AddedToken& token = matcher.tokens_[i];
    TokenTrie& trie = token.normalized ? matcher.normalized_trie_ : matcher.raw_trie_;
    trie.Insert(token.content, static_cast<int32_t>(i));
  }
  const bool any_single_word = std::any_of(matcher.tokens_.begin(), matcher.tokens_.end(),
                                           [](const AddedToken& t) { return t.single_word; });
  if (any_single_word) {
    STRATA_ASSIGN_OR_RETURN(matcher.word_char_, Regex::Compile(kWordCharPattern, false));
  }
  return matcher;
}

Status AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>* out) const {
  std::vector<Segment> first;
  STRATA_RETURN_IF_ERROR(SplitWith(raw_trie_, text, 0, &first));
  for (const Segment& segment : first) {
    if (segment.token_id >= 0) {
      out->push_back(segment);
      continue;
    }
    const std::string_view piece = text.substr(segment.begin, segment.end - segment.begin);
    STRATA_RETURN_IF_ERROR(SplitWith(normalized_trie_, piece, segment.begin, out));
  }
  return OkStatus();
}

Status AddedTokenMatcher::SplitWith(const TokenTrie& trie, std::string_view sentence, size_t offset,
                                    std::vector<Segment>* out) const {
  size_t done = 0;  // HF's start_offset
  size_t pos = 0;   // where the search for the next match resumes
  while (pos < sentence.size()) {
    const auto [length, index] = trie.LongestAt(sentence, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t start = pos;
    size_t stop = pos + length;
    pos = stop;
    if (token.single_word) {
      STRATA_ASSIGN_OR_RETURN(bool single, IsSingleWord(sentence, start, stop));
      if (!single) continue;
    }
    if (token.lstrip) start = std::max(TrailingSpaceStart(sentence.substr(0, start)), done);
    if (token.rstrip) stop += LeadingSpaceLength(sentence.substr(stop));
    if (start > done) out->push_back(Segment{offset + done, offset + start, -1});
    out->push_back(Segment{offset + start, offset + stop, token.id});
    done = stop;
  }
  if (done < sentence.size()) out->push_back(Segment{offset + done, offset + sentence.size(), -1});
  return OkStatus();
}

// HF: a single_word token needs no word character right before it and right after it.
StatusOr<bool> AddedTokenMatcher::IsSingleWord(std::string_view sentence, size_t start,
                                               size_t stop) const {
  if (start > 0) {
    const std::string_view before = sentence.substr(0, start);
    STRATA_ASSIGN_OR_RETURN(bool word,
                            word_char_->MatchesPrefix(before.substr(LastCharStart(before))));
    if (word) return false;
  }
  if (stop < sentence.size()) {
    STRATA_ASSIGN_OR_RETURN(bool word, word_char_->MatchesPrefix(sentence.substr(stop)));
    if (word) return false;
  }
  return true;
}

}  // namespace strata::tokenizer_internal
