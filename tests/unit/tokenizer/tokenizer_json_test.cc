// Reading tokenizer.json: malformed and unsupported files give errors that name the file and
// the field; the supported pre-tokenizer, added-token and post-processor options change ids as
// HF's rules say (checked by hand on a tiny vocabulary).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/tokenizer/tokenizer_tiny_json.h"

namespace strata::tiny {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Loads `json` and expects an error with `code` whose message has each of `parts`.
void ExpectError(const std::string& json, StatusCode code, const std::vector<std::string>& parts) {
  auto tokenizer = strata::Tokenizer::FromJson(json, "tiny/tokenizer.json");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), code) << tokenizer.status().ToString();
  EXPECT_THAT(tokenizer.status().message(), HasSubstr("tiny/tokenizer.json"));
  for (const std::string& part : parts) {
    EXPECT_THAT(tokenizer.status().message(), HasSubstr(part));
  }
}

void ExpectError(const Json& json, StatusCode code, const std::vector<std::string>& parts) {
  ExpectError(json.dump(), code, parts);
}

TEST(TokenizerJsonTest, TinyTokenizerLoads) {
  auto tokenizer = Load(BaseJson());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  EXPECT_EQ(tokenizer->vocab_size(), kD + 1);
  EXPECT_EQ(tokenizer->Decode(std::vector<int32_t>{kA, kSpace, kBc}, false).value(), "a bc");
}

TEST(TokenizerJsonTest, NotJson) {
  ExpectError(std::string("{\"model\": "), StatusCode::kInvalidArgument, {"not valid JSON"});
  ExpectError(std::string("[1, 2]"), StatusCode::kInvalidArgument, {"not a JSON object"});
}

TEST(TokenizerJsonTest, MissingFile) {
  auto tokenizer = strata::Tokenizer::FromFile("/nonexistent/tokenizer.json");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_EQ(tokenizer.status().code(), StatusCode::kNotFound);
}

TEST(TokenizerJsonTest, WrongModelType) {
  Json json = BaseJson();
  json["model"]["type"] = "WordPiece";
  ExpectError(json, StatusCode::kUnimplemented, {"model.type", "WordPiece"});
  json["model"].erase("type");
  ExpectError(json, StatusCode::kInvalidArgument, {"model.type", "missing"});
}

TEST(TokenizerJsonTest, MergeWithUnknownToken) {
  Json json = BaseJson();
  json["model"]["merges"] = {"a b", "a z"};
  ExpectError(json, StatusCode::kInvalidArgument, {"model.merges[1]", "\"z\"", "model.vocab"});
  json["model"]["merges"] = {"b a"};  // "ba", the merged token, is not in the vocabulary
  ExpectError(json, StatusCode::kInvalidArgument, {"model.merges[0]", "\"ba\""});
  json["model"]["merges"] = {"a b", "abc"};
  ExpectError(json, StatusCode::kInvalidArgument, {"model.merges[1]", "one space"});
  json["model"]["merges"] = Json::array({Json::array({"a"})});
  ExpectError(json, StatusCode::kInvalidArgument, {"model.merges[0]"});
}

TEST(TokenizerJsonTest, BadVocabulary) {
  Json json = BaseJson();
  json["model"]["vocab"]["x"] = -1;
  ExpectError(json, StatusCode::kInvalidArgument, {"model.vocab.x", "token id"});
  json["model"]["vocab"]["x"] = static_cast<int>(kA);
  ExpectError(json, StatusCode::kInvalidArgument, {"model.vocab", "both"});
  json["model"]["vocab"] = Json::array();
  ExpectError(json, StatusCode::kInvalidArgument, {"model.vocab"});
}

TEST(TokenizerJsonTest, UnsupportedModelOptions) {
  Json json = BaseJson();
  json["model"]["byte_fallback"] = true;
  ExpectError(json, StatusCode::kUnimplemented, {"model.byte_fallback"});
  json = BaseJson();
  json["model"]["dropout"] = 0.1;
  ExpectError(json, StatusCode::kUnimplemented, {"model.dropout"});
  json = BaseJson();
  json["model"]["continuing_subword_prefix"] = "##";
  ExpectError(json, StatusCode::kUnimplemented, {"model.continuing_subword_prefix"});
}

TEST(TokenizerJsonTest, UnsupportedParts) {
  Json json = BaseJson();
  json["normalizer"] = {{"type", "NFC"}};
  ExpectError(json, StatusCode::kUnimplemented, {"normalizer", "NFC"});
  json = BaseJson();
  json["decoder"] = {{"type", "WordPiece"}};
  ExpectError(json, StatusCode::kUnimplemented, {"decoder", "WordPiece"});
  json = BaseJson();
  json["truncation"] = {{"max_length", 512}};
  ExpectError(json, StatusCode::kUnimplemented, {"truncation"});
  json = BaseJson();
  json["post_processor"] = {{"type", "BertProcessing"}};
  ExpectError(json, StatusCode::kUnimplemented, {"post_processor", "BertProcessing"});
}

TEST(TokenizerJsonTest, UnsupportedPreTokenizers) {
  Json json = BaseJson();
  json["pre_tokenizer"] = {{"type", "Metaspace"}};
  ExpectError(json, StatusCode::kUnimplemented, {"pre_tokenizer", "Metaspace"});
  json["pre_tokenizer"] = nullptr;
  ExpectError(json, StatusCode::kUnimplemented, {"pre_tokenizer", "null"});
  json["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers", {{{"type", "Whitespace"}}, {{"type", "ByteLevel"}}}}};
  ExpectError(json, StatusCode::kUnimplemented, {"pre_tokenizer.pretokenizers[0]", "Whitespace"});

  const Json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  Json split = {
      {"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Removed"}, {"invert", false}};
  json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
  ExpectError(json, StatusCode::kUnimplemented,
              {"pre_tokenizer.pretokenizers[0].behavior", "Removed"});
  split["behavior"] = "Isolated";
  split["pattern"] = {{"Regex", "(unclosed"}};
  json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
  ExpectError(json, StatusCode::kInvalidArgument,
              {"pre_tokenizer.pretokenizers[0].pattern", "(unclosed"});
  json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {byte_level, split}}};
  ExpectError(json, StatusCode::kUnimplemented, {"pre_tokenizer.pretokenizers[0]", "position"});
}

TEST(TokenizerJsonTest, BadAddedTokens) {
  Json json = BaseJson();
  json["added_tokens"] = {{{"content", "<x>"}, {"special", true}}};
  ExpectError(json, StatusCode::kInvalidArgument, {"added_tokens[0].id", "missing"});
  json["added_tokens"] = {AddedToken(20, "", true)};
  ExpectError(json, StatusCode::kInvalidArgument, {"added_tokens[0].content", "empty"});
}

TEST(TokenizerJsonTest, GptTwoRegexWhenByteLevelUsesRegex) {
  Json json = BaseJson();
  json["pre_tokenizer"]["use_regex"] = true;
  // GPT-2's regex: "ab", " " (the space that \s+(?!\S) leaves before a word), " c".
  EXPECT_THAT(Encode(json, "ab  c"), ElementsAre(kA, kB, kSpace, kSpace, kC));
  json["model"]["merges"] = {"a b"};
  EXPECT_THAT(Encode(json, "ab ab"), ElementsAre(kAb, kSpace, kAb));  // pieces "ab" and "Ġab"
}

TEST(TokenizerJsonTest, AddPrefixSpace) {
  Json json = BaseJson();
  json["pre_tokenizer"]["add_prefix_space"] = true;
  json["added_tokens"] = {AddedToken(20, "<m>", true)};
  EXPECT_THAT(Encode(json, "ab"), ElementsAre(kSpace, kA, kB));
  EXPECT_THAT(Encode(json, " ab"), ElementsAre(kSpace, kA, kB));
  // Each stretch of text between added tokens gets its own prefix space.
  EXPECT_THAT(Encode(json, "a<m>b"), ElementsAre(kSpace, kA, 20, kSpace, kB));
}

TEST(TokenizerJsonTest, SplitStagesIsolatePieces) {
  Json json = BaseJson();
  json["model"]["merges"] = {"a b"};
  const Json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  const Json split = {{"type", "Split"},
                      {"pattern", {{"String", "b"}}},
                      {"behavior", "Isolated"},
                      {"invert", false}};
  json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
  // "b" is its own piece, so "a b" can never merge.
  EXPECT_THAT(Encode(json, "abcab"), ElementsAre(kA, kB, kC, kA, kB));
}

TEST(TokenizerJsonTest, TemplateProcessingAddsTokensAround) {
  Json json = BaseJson();
  json["added_tokens"] = {AddedToken(20, "<s>", true), AddedToken(21, "</s>", true)};
  const Json templ = {{"type", "TemplateProcessing"},
                      {"single",
                       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                        {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}}},
                      {"special_tokens",
                       {{"<s>", {{"id", "<s>"}, {"ids", {20}}, {"tokens", {"<s>"}}}},
                        {"</s>", {{"id", "</s>"}, {"ids", {21}}, {"tokens", {"</s>"}}}}}}};
  json["post_processor"] = templ;
  EXPECT_THAT(Encode(json, "ab", true), ElementsAre(20, kA, kB, 21));
  EXPECT_THAT(Encode(json, "ab", false), ElementsAre(kA, kB));
  EXPECT_THAT(Encode(json, "", true), ElementsAre(20, 21));

  // In a Sequence each processor wraps what the previous one made.
  Json inner = templ;
  inner["single"] = {{{"SpecialToken", {{"id", "</s>"}}}}, {{"Sequence", {{"id", "A"}}}}};
  json["post_processor"] = {{"type", "Sequence"},
                            {"processors", {{{"type", "ByteLevel"}}, templ, inner}}};
  EXPECT_THAT(Encode(json, "a", true), ElementsAre(21, 20, kA, 21));

  json["post_processor"] = templ;
  json["post_processor"]["special_tokens"].erase("</s>");
  ExpectError(json, StatusCode::kInvalidArgument, {"post_processor.single[2]", "</s>"});
  json["post_processor"] = templ;
  json["added_tokens"] = {AddedToken(20, "<s>", true)};
  ExpectError(json, StatusCode::kInvalidArgument, {"post_processor", "21"});
}

TEST(TokenizerJsonTest, AddedTokensMatchLeftmostLongest) {
  Json json = BaseJson();
  json["added_tokens"] = {AddedToken(20, "ab", false), AddedToken(21, "abc", false),
                          AddedToken(22, "bcc", false)};
  EXPECT_THAT(Encode(json, "abcab"), ElementsAre(21, 20));
  // "bcc" would start at 1, but "abc" starts further left.
  EXPECT_THAT(Encode(json, "abcc"), ElementsAre(21, kC));
  EXPECT_THAT(Encode(json, "cabcc"), ElementsAre(kC, 21, kC));
}

TEST(TokenizerJsonTest, NormalizedAddedTokensMatchAfterTheOthers) {
  // HF matches normalized=false tokens over the whole text first, then normalized=true ones
  // in the gaps, so "ab" wins over the longer "abc" here.
  Json json = BaseJson();
  json["added_tokens"] = {AddedToken(20, "ab", false), AddedToken(21, "abc", false)};
  json["added_tokens"][1]["normalized"] = true;
  EXPECT_THAT(Encode(json, "abc"), ElementsAre(20, kC));
  EXPECT_THAT(Encode(json, "cabc"), ElementsAre(kC, 20, kC));
  EXPECT_THAT(Encode(json, "bc abc"), ElementsAre(kB, kC, kSpace, 20, kC));
}

TEST(TokenizerJsonTest, LstripAndRstripAbsorbWhitespace) {
  Json json = BaseJson();
  json["added_tokens"] = {AddedToken(20, "<m>", true)};
  EXPECT_THAT(Encode(json, "a <m> b"), ElementsAre(kA, kSpace, 20, kSpace, kB));
  json["added_tokens"][0]["lstrip"] = true;
  EXPECT_THAT(Encode(json, "a <m> b"), ElementsAre(kA, 20, kSpace, kB));
  EXPECT_THAT(Encode(json, "a \t\n<m>b"), ElementsAre(kA, 20, kB));
  json["added_tokens"][0]["lstrip"] = false;
  json["added_tokens"][0]["rstrip"] = true;
  EXPECT_THAT(Encode(json, "a <m> b"), ElementsAre(kA, kSpace, 20, kB));
  json["added_tokens"][0]["lstrip"] = true;
  EXPECT_THAT(Encode(json, "a <m> b"), ElementsAre(kA, 20, kB));
  // Unicode whitespace counts too (U+3000 ideographic space); it is absorbed, not decoded.
  const std::vector<int32_t> ids = Encode(json,
                                          "a\xE3\x80\x80<m>\xC2\xA0"
                                          "b");
  EXPECT_THAT(ids, ElementsAre(kA, 20, kB));
  EXPECT_EQ(Load(json)->Decode(ids, false).value(), "a<m>b");
}

TEST(TokenizerJsonTest, SingleWordTokensMatchOnlyOutsideWords) {
  Json json = BaseJson();
  json["added_tokens"] = {AddedToken(20, "<m>", true)};
  json["added_tokens"][0]["single_word"] = true;
  EXPECT_THAT(Encode(json, "a<m>b"), ElementsAre(kA, kLess, kM, kGreater, kB));
  EXPECT_THAT(Encode(json, "a <m> b"), ElementsAre(kA, kSpace, 20, kSpace, kB));
  EXPECT_THAT(Encode(json, "<m>"), ElementsAre(20));
  EXPECT_THAT(Encode(json, "<m>b"), ElementsAre(kLess, kM, kGreater, kB));
}

TEST(TokenizerJsonTest, SkipSpecialSkipsOnlySpecialTokens) {
  Json json = BaseJson();
  json["added_tokens"] = {AddedToken(20, "<s>", true), AddedToken(21, "<m>", false)};
  auto tokenizer = Load(json);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  const std::vector<int32_t> ids = tokenizer->Encode("<s>a<m>b", false).value();
  EXPECT_THAT(ids, ElementsAre(20, kA, 21, kB));
  EXPECT_EQ(tokenizer->Decode(ids, true).value(), "a<m>b");
  EXPECT_EQ(tokenizer->Decode(ids, false).value(), "<s>a<m>b");
  EXPECT_TRUE(tokenizer->IsSpecial(20));
  EXPECT_FALSE(tokenizer->IsSpecial(21));
  EXPECT_EQ(tokenizer->TokenToId("<m>"), 21);
  EXPECT_EQ(tokenizer->vocab_size(), 22);
}

}  // namespace
}  // namespace strata::tiny
