// Tokenizer on the real Llama 3.1 tokenizer.json: exact ids against vectors produced by HF
// `tokenizers` 0.23.2, decoding, special tokens, UTF-8 edge cases, streaming, errors, a long
// input and concurrent use. The tokenizer is loaded once for the suite.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/tokenizer/tokenizer.h"
#include "common/util/file.h"

namespace strata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int32_t kBeginOfText = 128000;
constexpr int32_t kEotId = 128009;
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

struct Vector {
  std::string text;
  std::vector<int32_t> ids_with_bos;
  std::vector<int32_t> ids;
  std::string decoded;
};

class LlamaTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const auto start = std::chrono::steady_clock::now();
    auto loaded =
        Tokenizer::FromFile(std::string(STRATA_TEST_FIXTURES) + "/tiny-llama31/tokenizer.json");
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    std::printf("loaded the Llama 3.1 tokenizer in %.0f ms\n", took.count());
    tokenizer_ = new Tokenizer(std::move(loaded).value());

    auto text = ReadFileToString(std::string(STRATA_TEST_FIXTURES) + "/tokenizer_vectors.json");
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    vectors_ = new std::vector<Vector>();
    const nlohmann::json parsed = nlohmann::json::parse(*text);
    for (const auto& c : parsed.at("cases")) {
      vectors_->push_back({c.at("text"), c.at("ids_with_bos"), c.at("ids"), c.at("decoded")});
    }
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete vectors_;
  }

  static std::vector<int32_t> Encode(std::string_view text, bool bos = false) {
    auto ids = tokenizer_->Encode(text, bos);
    EXPECT_TRUE(ids.ok()) << ids.status().ToString();
    return ids.ok() ? *ids : std::vector<int32_t>{};
  }
  static std::string Decode(const std::vector<int32_t>& ids, bool skip_special = false) {
    auto text = tokenizer_->Decode(ids, skip_special);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? *text : std::string();
  }

  static Tokenizer* tokenizer_;
  static std::vector<Vector>* vectors_;
};

Tokenizer* LlamaTokenizerTest::tokenizer_ = nullptr;
std::vector<Vector>* LlamaTokenizerTest::vectors_ = nullptr;

TEST_F(LlamaTokenizerTest, MatchesHuggingFaceVectors) {
  ASSERT_GE(vectors_->size(), 20u);
  for (const Vector& v : *vectors_) {
    SCOPED_TRACE("text: " + v.text);
    EXPECT_EQ(Encode(v.text, /*bos=*/true), v.ids_with_bos);
    EXPECT_EQ(Encode(v.text, /*bos=*/false), v.ids);
    EXPECT_EQ(Decode(v.ids, /*skip_special=*/true), v.decoded);
    if (v.text.find("<|") == std::string::npos) {
      EXPECT_EQ(Decode(v.ids), v.text);
    }
  }
}

TEST_F(LlamaTokenizerTest, VocabularyLookups) {
  EXPECT_EQ(tokenizer_->vocab_size(), 128256);
  EXPECT_EQ(tokenizer_->TokenToId("Hello"), 9906);
  EXPECT_EQ(tokenizer_->TokenToId("\xC4\xA0Hello"), 22691);  // "ĠHello": the vocab's spelling
  EXPECT_EQ(tokenizer_->TokenToId("<|eot_id|>"), kEotId);
  EXPECT_EQ(tokenizer_->TokenToId("no such token"), std::nullopt);
  EXPECT_EQ(tokenizer_->TokenBytes(22691), " Hello");
  EXPECT_EQ(tokenizer_->TokenBytes(kEotId), "<|eot_id|>");
  EXPECT_EQ(tokenizer_->TokenBytes(-1), std::nullopt);
  EXPECT_EQ(tokenizer_->TokenBytes(128256), std::nullopt);
  EXPECT_TRUE(tokenizer_->IsSpecial(kBeginOfText));
  EXPECT_TRUE(tokenizer_->IsSpecial(128255));
  EXPECT_FALSE(tokenizer_->IsSpecial(9906));
  EXPECT_FALSE(tokenizer_->IsSpecial(-5));
}

TEST_F(LlamaTokenizerTest, SpecialTokensInsideText) {
  const std::vector<int32_t> ids = Encode("Hi<|eot_id|>there");
  EXPECT_THAT(ids, ElementsAre(13347, kEotId, 19041));
  EXPECT_EQ(Decode(ids), "Hi<|eot_id|>there");
  EXPECT_EQ(Decode(ids, /*skip_special=*/true), "Hithere");

  const std::vector<int32_t> chat =
      Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", /*bos=*/true);
  EXPECT_THAT(chat, ElementsAre(kBeginOfText, 128006, 882, 128007, 271, 13347, kEotId));
  // An incomplete special token is ordinary text.
  const std::vector<int32_t> partial = Encode("<|eot_id");
  EXPECT_EQ(std::count(partial.begin(), partial.end(), kEotId), 0);
  EXPECT_EQ(Decode(partial), "<|eot_id");
}

// ignore_merges: a piece that is itself a vocabulary token is that one token, even where the
// merges would not build it; so a piece and its vocab entry always agree.
TEST_F(LlamaTokenizerTest, WholeWordPiecesAreSingleTokens) {
  EXPECT_THAT(Encode(" Hello"), ElementsAre(22691));
  EXPECT_THAT(Encode("Hello"), ElementsAre(9906));
  // Each regex piece is encoded on its own: "Hello" and " world" never merge across.
  EXPECT_THAT(Encode("Hello world"), ElementsAre(9906, 1917));
  // Digits are split into runs of at most three before BPE.
  EXPECT_EQ(Encode("1234567"), (std::vector<int32_t>{4513, 10961, 22}));
}

TEST_F(LlamaTokenizerTest, ControlCharactersAndNulRoundTrip) {
  const std::string text("a\0b\x01\x7F\r\n\x1B[0m \xC2\x85 \xE1\xA0\x8E end", 22);
  EXPECT_EQ(Decode(Encode(text)), text);
}

TEST_F(LlamaTokenizerTest, TokenSplittingACharacterDecodesLossily) {
  const std::string rocket = "\xF0\x9F\x9A\x80";  // U+1F680
  const std::vector<int32_t> ids = Encode(rocket);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(Decode(ids), rocket);
  const std::vector<int32_t> head(ids.begin(), ids.end() - 1);
  EXPECT_EQ(Decode(head), kReplacement);          // one U+FFFD for the incomplete character
  EXPECT_EQ(Decode({ids.back()}), kReplacement);  // a lone continuation byte
}

TEST_F(LlamaTokenizerTest, StreamDecoderEmitsWholeCharacters) {
  const std::string text = "emoji \xF0\x9F\x9A\x80 and \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD ok";
  const std::vector<int32_t> ids = Encode(text, /*bos=*/true);
  StreamDecoder stream(*tokenizer_, /*skip_special_tokens=*/true);
  std::string streamed;
  for (int32_t id : ids) {
    auto piece = stream.Push(id);
    ASSERT_TRUE(piece.ok()) << piece.status().ToString();
    EXPECT_EQ(piece->find(kReplacement), std::string::npos) << "partial character emitted";
    streamed += *piece;
  }
  streamed += stream.Flush();
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(streamed, Decode(ids, /*skip_special=*/true));
}

TEST_F(LlamaTokenizerTest, StreamDecoderCompletesEmojiOnlyOnLastToken) {
  const std::vector<int32_t> ids = Encode("\xF0\x9F\x9A\x80");
  ASSERT_GE(ids.size(), 2u);
  StreamDecoder stream(*tokenizer_, /*skip_special_tokens=*/false);
  for (size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(stream.Push(ids[i]).value(), "");
  EXPECT_EQ(stream.Push(ids.back()).value(), "\xF0\x9F\x9A\x80");
  EXPECT_EQ(stream.Flush(), "");
}

TEST_F(LlamaTokenizerTest, StreamDecoderFlushAndSpecialTokens) {
  const std::vector<int32_t> ids = Encode("\xF0\x9F\x9A\x80");
  StreamDecoder stream(*tokenizer_, /*skip_special_tokens=*/false);
  EXPECT_EQ(stream.Push(ids[0]).value(), "");
  EXPECT_EQ(stream.Flush(), kReplacement);  // an incomplete character at the end
  EXPECT_EQ(stream.Flush(), "");

  // A special token after incomplete bytes: the bytes can never complete, as in Decode.
  EXPECT_EQ(stream.Push(ids[0]).value(), "");
  EXPECT_EQ(stream.Push(kEotId).value(), std::string(kReplacement) + "<|eot_id|>");

  StreamDecoder skipping(*tokenizer_, /*skip_special_tokens=*/true);
  EXPECT_EQ(skipping.Push(kBeginOfText).value(), "");
  EXPECT_EQ(skipping.Push(9906).value(), "Hello");

  auto bad = skipping.Push(200000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("200000"));
}

TEST_F(LlamaTokenizerTest, InvalidUtf8IsRejectedWithOffset) {
  for (const auto& [text, offset] : std::vector<std::pair<std::string, int>>{{"abc\xFF", 3},
                                                                             {"ab\xC3(", 2},
                                                                             {"x\xED\xA0\x80", 1},
                                                                             {"\xF0\x9F\x9A", 0},
                                                                             {"ok \xC0\xAF", 3}}) {
    auto ids = tokenizer_->Encode(text, true);
    ASSERT_FALSE(ids.ok()) << text;
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(ids.status().message(), HasSubstr("offset " + std::to_string(offset)));
  }
}

TEST_F(LlamaTokenizerTest, OutOfRangeIdsAreRejected) {
  for (int32_t id : {-1, 128256, 1 << 30}) {
    auto text = tokenizer_->Decode(std::vector<int32_t>{9906, id}, false);
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(text.status().message(), HasSubstr(std::to_string(id)));
    EXPECT_THAT(text.status().message(), HasSubstr("128256"));
  }
}

TEST_F(LlamaTokenizerTest, LongMixedInputRoundTrips) {
  std::string text(60000, 'a');  // one very long word
  text += std::string(30000, ' ') + "x" + std::string(20000, '\n') + std::string(5000, '\t');
  uint32_t state = 12345;
  auto next = [&state](uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  while (text.size() < 200000) {
    switch (next(4)) {
      case 0:
        for (uint32_t i = next(12) + 1; i > 0; --i) text += static_cast<char>('a' + next(26));
        break;
      case 1:
        text += std::string(next(40) + 1, " \t\n"[next(3)]);
        break;
      case 2:
        for (uint32_t i = next(15) + 1; i > 0; --i) text += static_cast<char>('0' + next(10));
        break;
      default:
        text += ".,;!?\xC3\xA9\xE4\xB8\xAD"[next(5)];
        break;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int32_t> ids = Encode(text);
  const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  std::printf("encoded %zu bytes into %zu tokens in %.0f ms\n", text.size(), ids.size(),
              took.count());
  EXPECT_EQ(Decode(ids), text);
}

TEST_F(LlamaTokenizerTest, ConcurrentEncodesAgree) {
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t, &mismatches] {
      for (int round = 0; round < 20; ++round) {
        for (const Vector& v : *vectors_) {
          auto ids = tokenizer_->Encode(v.text, true);
          if (!ids.ok() || *ids != v.ids_with_bos) ++mismatches[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

}  // namespace
}  // namespace strata
