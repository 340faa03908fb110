// The tokenizer's building blocks: UTF-8 decoding with Rust's from_utf8_lossy replacement
// rule, the GPT-2 byte-level alphabet, and the PCRE2 regex split (Oniguruma's \s, the onig
// crate's handling of empty matches).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/regex.h"
#include "common/tokenizer/utf8.h"

namespace strata::tokenizer_internal {
namespace {

using ::testing::ElementsAre;

const std::string kFffd = "\xEF\xBF\xBD";

std::string Lossy(std::string_view bytes) {
  std::string out;
  AppendUtf8Lossy(bytes, &out);
  return out;
}

TEST(TokenizerUtf8Test, LossyReplacesEachMaximalSubpart) {
  EXPECT_EQ(Lossy("plain \xC3\xA9 text"), "plain \xC3\xA9 text");
  EXPECT_EQ(Lossy("\xF0\x9F\x9A"), kFffd);  // truncated 4-byte character
  EXPECT_EQ(Lossy("\xF0\x9F\x9A"
                  "x"),
            kFffd + "x");                                               // broken one, then 'x'
  EXPECT_EQ(Lossy("\xE0\x80"), kFffd + kFffd);                          // E0 needs A0..BF next
  EXPECT_EQ(Lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);              // a surrogate
  EXPECT_EQ(Lossy("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(Lossy("\xC0\xAF"), kFffd + kFffd);                          // overlong
  EXPECT_EQ(Lossy("a\xC3(b"), "a" + kFffd + "(b");
  EXPECT_EQ(Lossy("\x80\xBF\xFF"), kFffd + kFffd + kFffd);
}

TEST(TokenizerUtf8Test, FindInvalidGivesTheOffset) {
  EXPECT_EQ(FindInvalidUtf8("ok \xE4\xB8\xAD \xF0\x9F\x9A\x80"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("ab\xE4\xB8"), 2u);
  EXPECT_EQ(FindInvalidUtf8("\xFF"), 0u);
}

TEST(TokenizerUtf8Test, IncompleteTail) {
  EXPECT_EQ(IncompleteUtf8Tail(""), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xF0\x9F\x9A"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xF0\x9F"), 2u);
  EXPECT_EQ(IncompleteUtf8Tail("a\xE4"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("\xF0\x9F\x9A\x80"), 0u);  // complete
  EXPECT_EQ(IncompleteUtf8Tail("a\xE0\x80"), 0u);         // can never complete
  EXPECT_EQ(IncompleteUtf8Tail("a\x80"), 0u);
}

TEST(TokenizerByteLevelTest, KnownMappingsAndRoundTrip) {
  std::string out;
  AppendByteLevel(" \n!\xAD\xFF", &out);
  EXPECT_EQ(out, "\xC4\xA0\xC4\x8A!\xC5\x83\xC3\xBF");  // Ġ Ċ ! Ń ÿ
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string mapped;
  AppendByteLevel(all, &mapped);
  EXPECT_EQ(ByteLevelToBytes(mapped), all);
  EXPECT_EQ(ByteLevelToBytes(" "), std::nullopt);  // ' ' is not in the alphabet
  EXPECT_EQ(ByteLevelToBytes("\xE4\xB8\xAD"), std::nullopt);
}

std::vector<std::string> Split(const std::string& pattern, std::string_view text) {
  auto regex = Regex::Compile(pattern, /*literal=*/false);
  EXPECT_TRUE(regex.ok()) << regex.status().ToString();
  std::vector<std::string> pieces;
  Status status = regex->SplitIsolated(text, [&](std::string_view piece) {
    pieces.emplace_back(piece);
    return OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status.ToString();
  return pieces;
}

TEST(TokenizerRegexTest, SplitKeepsMatchesAndGaps) {
  EXPECT_THAT(Split(R"(\p{N}+)", "ab12cd345"), ElementsAre("ab", "12", "cd", "345"));
  EXPECT_THAT(Split(R"(\p{N}+)", "12"), ElementsAre("12"));
  EXPECT_THAT(Split(R"(\p{N}+)", "ab"), ElementsAre("ab"));
}

TEST(TokenizerRegexTest, EmptyMatchesFollowTheOnigCrate) {
  // onig's find_iter yields (0,0) (1,1) (2,3) (4,4) here, skipping the empty match at 3 right
  // after "x"; the empty matches only cut the gaps.
  EXPECT_THAT(Split("x*", "abxc"), ElementsAre("a", "b", "x", "c"));
}

TEST(TokenizerRegexTest, WhitespaceIsUnicodeWhiteSpace) {
  EXPECT_EQ(RewriteWhitespaceEscapes(R"(\s+(?!\S)|[^\s\p{L}]|\\s|\Q\s\E)"),
            R"(\p{White_Space}+(?!\P{White_Space})|[^\p{White_Space}\p{L}]|\\s|\Q\s\E)");
  // U+180E is not White_Space (Oniguruma) although PCRE2's own \s matches it; U+0085 is.
  EXPECT_THAT(Split(R"(\s+)", "x\xE1\xA0\x8E y"), ElementsAre("x\xE1\xA0\x8E", " ", "y"));
  EXPECT_THAT(Split(R"(\s+)", "x\xC2\x85y"), ElementsAre("x", "\xC2\x85", "y"));
}

TEST(TokenizerRegexTest, LiteralAndPrefixMatch) {
  auto literal = Regex::Compile("a.b", /*literal=*/true);
  ASSERT_TRUE(literal.ok());
  EXPECT_TRUE(literal->MatchesPrefix("a.bc").value());
  EXPECT_FALSE(literal->MatchesPrefix("axb").value());
  EXPECT_FALSE(literal->MatchesPrefix("za.b").value());
  EXPECT_FALSE(Regex::Compile("(", false).ok());
}

}  // namespace
}  // namespace strata::tokenizer_internal
