// BPE merge semantics on a tiny hand-made vocabulary, where each expected result follows from
// HF's rules: merge the lowest-ranked adjacent pair first, leftmost on equal ranks;
// ignore_merges keeps a piece that is a vocabulary token whole; unknown characters become the
// unk token (fused with fuse_unk) or an error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/tokenizer/tokenizer_tiny_json.h"

namespace strata::tiny {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Json WithMerges(const std::vector<std::string>& merges, bool ignore_merges = false) {
  Json json = BaseJson();
  json["model"]["merges"] = merges;
  json["model"]["ignore_merges"] = ignore_merges;
  return json;
}

TEST(BpeTest, NoMergesGivesCharacters) {
  EXPECT_THAT(Encode(WithMerges({}), "abc"), ElementsAre(kA, kB, kC));
}

TEST(BpeTest, LowestRankMergesFirst) {
  // "b c" (rank 0) goes before "a b" (rank 1); then "a bc" builds "abc".
  EXPECT_THAT(Encode(WithMerges({"b c", "a b", "a bc"}), "abc"), ElementsAre(kAbc));
  // Same pairs, other ranks: "a b" first leaves "ab c", which has no merge.
  EXPECT_THAT(Encode(WithMerges({"a b", "b c", "a bc"}), "abc"), ElementsAre(kAb, kC));
  EXPECT_THAT(Encode(WithMerges({"b c", "a b"}), "abc"), ElementsAre(kA, kBc));
}

TEST(BpeTest, EqualRanksMergeLeftmostFirst) {
  EXPECT_THAT(Encode(WithMerges({"a a"}), "aaa"), ElementsAre(kAa, kA));
  EXPECT_THAT(Encode(WithMerges({"a a", "aa a"}), "aaa"), ElementsAre(kAaa));
  // a|a|a|a: the rank-0 pair at 2 beats the rank-1 pair "aa a" made at 0, leaving "aa aa",
  // which has no merge.
  EXPECT_THAT(Encode(WithMerges({"a a", "aa a"}), "aaaa"), ElementsAre(kAa, kAa));
  EXPECT_THAT(Encode(WithMerges({"a a", "aa aa"}), "aaaa"), ElementsAre(kAaaa));
}

TEST(BpeTest, IgnoreMergesKeepsVocabularyPiecesWhole) {
  // "abc" is in the vocabulary but no merge path builds it.
  EXPECT_THAT(Encode(WithMerges({"a b"}, /*ignore_merges=*/false), "abc"), ElementsAre(kAb, kC));
  EXPECT_THAT(Encode(WithMerges({"a b"}, /*ignore_merges=*/true), "abc"), ElementsAre(kAbc));
  // A piece not in the vocabulary is still merged.
  EXPECT_THAT(Encode(WithMerges({"a b"}, /*ignore_merges=*/true), "abab"), ElementsAre(kAb, kAb));
}

TEST(BpeTest, MergesAsPairsAreAccepted) {
  Json json = BaseJson();
  json["model"]["merges"] = Json::array({Json::array({"b", "c"}), Json::array({"a", "bc"})});
  EXPECT_THAT(Encode(json, "abc"), ElementsAre(kAbc));
}

TEST(BpeTest, LongPieceMergesQuickly) {
  const std::string text(100000, 'a');
  const std::vector<int32_t> ids = Encode(WithMerges({"a a", "aa aa"}), text);
  ASSERT_EQ(ids.size(), 25000u);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), kAaaa), 25000);
}

TEST(BpeTest, UnknownCharacterWithoutUnkTokenIsAnError) {
  auto tokenizer = Load(WithMerges({}));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  auto ids = tokenizer->Encode("axa", false);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(ids.status().message(), HasSubstr("\"x\""));
}

TEST(BpeTest, UnknownCharactersBecomeUnk) {
  Json json = WithMerges({});
  json["model"]["unk_token"] = "<unk>";
  EXPECT_THAT(Encode(json, "axya"), ElementsAre(kA, kUnk, kUnk, kA));
  json["model"]["fuse_unk"] = true;
  EXPECT_THAT(Encode(json, "axya"), ElementsAre(kA, kUnk, kA));
  EXPECT_THAT(Encode(json, "xy"), ElementsAre(kUnk));
}

}  // namespace
}  // namespace strata::tiny
