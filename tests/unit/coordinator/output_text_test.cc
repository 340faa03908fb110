// OutputText over the fixture's Llama 3 tokenizer: pieces concatenate to the decoded text,
// never split a UTF-8 character, stop strings are found across token boundaries and cut the
// text before them, and text that may start a stop string is held back until settled.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/tokenizer/utf8.h"
#include "coordinator/output_text.h"

namespace strata::coordinator {
namespace {

const Tokenizer& Llama3() {
  static const Tokenizer tokenizer = [] {
    StatusOr<Tokenizer> t =
        Tokenizer::FromFile(std::string(STRATA_TEST_FIXTURES) + "/tiny-llama31/tokenizer.json");
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(*t);
  }();
  return tokenizer;
}

std::vector<int32_t> Ids(const std::string& text) {
  StatusOr<std::vector<int32_t>> ids = Llama3().Encode(text, /*add_special_tokens=*/false);
  EXPECT_TRUE(ids.ok());
  return *ids;
}

// Pushes every id; returns the pieces (the last one from Finish unless stopped).
std::vector<std::string> Pieces(OutputText& out, const std::vector<int32_t>& ids) {
  std::vector<std::string> pieces;
  for (int32_t id : ids) {
    StatusOr<std::string> piece = out.Push(id);
    EXPECT_TRUE(piece.ok());
    pieces.push_back(*piece);
    if (out.stopped()) return pieces;
  }
  pieces.push_back(out.Finish());
  return pieces;
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string s;
  for (const std::string& p : pieces) s += p;
  return s;
}

TEST(OutputTextTest, PiecesConcatenateToTheTextAndAreWholeCharacters) {
  const std::string text = "Llamas 🦙 graze in the Andes — ¡qué bien! 東京タワー";
  const std::vector<int32_t> ids = Ids(text);
  OutputText out(Llama3(), {});
  const std::vector<std::string> pieces = Pieces(out, ids);
  EXPECT_EQ(Join(pieces), text);
  EXPECT_FALSE(out.stopped());
  EXPECT_EQ(out.ids(), static_cast<int32_t>(ids.size()));
  bool some_piece_empty = false;  // a character spread over tokens waited for its last byte
  for (const std::string& p : pieces) {
    EXPECT_EQ(tokenizer_internal::IncompleteUtf8Tail(p), 0u) << p;
    some_piece_empty |= p.empty();
  }
  EXPECT_TRUE(some_piece_empty) << "no character of the text spans tokens; pick another";
}

TEST(OutputTextTest, AStopStringAcrossTokensCutsTheTextBeforeIt) {
  const std::vector<int32_t> ids = Ids("Hello world, this is a test");
  OutputText out(Llama3(), {"zzz", "o w"});
  const std::vector<std::string> pieces = Pieces(out, ids);
  EXPECT_TRUE(out.stopped());
  EXPECT_EQ(Join(pieces), "Hell");
  EXPECT_EQ(out.ids(), 2);  // "Hello", " world": the second completed the stop string
  EXPECT_EQ(out.Finish(), "");
}

TEST(OutputTextTest, TextThatMayStartAStopStringIsHeldUntilSettled) {
  const std::vector<int32_t> ids = Ids("one two three");
  ASSERT_EQ(ids.size(), 3u);
  OutputText out(Llama3(), {" two!"});
  EXPECT_EQ(*out.Push(ids[0]), "one");
  EXPECT_EQ(*out.Push(ids[1]), "");  // " two" may begin " two!"
  EXPECT_EQ(*out.Push(ids[2]), " two three");  // settled: it does not
  EXPECT_EQ(out.Finish(), "");
  EXPECT_FALSE(out.stopped());
}

TEST(OutputTextTest, HeldTextIsReleasedByFinish) {
  OutputText out(Llama3(), {" tw"});
  std::string text;
  for (int32_t id : Ids("one two")) text += *out.Push(id);
  EXPECT_EQ(text, "one");  // " two" begins with " tw": stopped before it
  EXPECT_TRUE(out.stopped());

  OutputText held(Llama3(), {"two!"});
  text.clear();
  for (int32_t id : Ids("one two")) text += *held.Push(id);
  EXPECT_EQ(text, "one ");
  EXPECT_EQ(held.Finish(), "two");
}

TEST(OutputTextTest, SpecialTokensAreSkipped) {
  const std::optional<int32_t> eot = Llama3().TokenToId("<|eot_id|>");
  ASSERT_TRUE(eot.has_value());
  std::vector<int32_t> ids = Ids("Hi");
  ids.push_back(*eot);
  OutputText out(Llama3(), {"<|eot"});
  EXPECT_EQ(Join(Pieces(out, ids)), "Hi");
  EXPECT_FALSE(out.stopped());
}

}  // namespace
}  // namespace strata::coordinator
