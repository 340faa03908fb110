// A small hand-made byte-level BPE tokenizer.json for tests whose expected ids follow from
// the BPE rules by hand. Tests edit the JSON before loading it.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/tokenizer/tokenizer.h"

namespace strata::tiny {

using Json = nlohmann::json;

// Ids of the tiny vocabulary ("Ġ" is the byte-level spelling of ' ').
enum Id : int32_t {
  kA = 0,
  kB,
  kC,
  kAb,
  kBc,
  kAbc,
  kSpace,
  kLess,
  kM,
  kGreater,
  kAa,
  kAaaa,
  kAaa,
  kUnk,
  kD,
};

inline Json Vocab() {
  return Json{{"a", kA},
              {"b", kB},
              {"c", kC},
              {"ab", kAb},
              {"bc", kBc},
              {"abc", kAbc},
              {"\xC4\xA0", kSpace},
              {"<", kLess},
              {"m", kM},
              {">", kGreater},
              {"aa", kAa},
              {"aaaa", kAaaa},
              {"aaa", kAaa},
              {"<unk>", kUnk},
              {"d", kD}};
}

// No merges, no added tokens, ByteLevel pre-tokenizer without regex or prefix space.
inline Json BaseJson() {
  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", Json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer",
               {{"type", "ByteLevel"},
                {"add_prefix_space", false},
                {"trim_offsets", true},
                {"use_regex", false}}},
              {"post_processor", nullptr},
              {"decoder",
               {{"type", "ByteLevel"},
                {"add_prefix_space", true},
                {"trim_offsets", true},
                {"use_regex", true}}},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", Vocab()},
                {"merges", Json::array()}}}};
}

inline Json AddedToken(int32_t id, std::string content, bool special) {
  return Json{
      {"id", id},        {"content", std::move(content)}, {"single_word", false}, {"lstrip", false},
      {"rstrip", false}, {"normalized", false},           {"special", special}};
}

inline StatusOr<strata::Tokenizer> Load(const Json& json) {
  return strata::Tokenizer::FromJson(json.dump(), "tiny/tokenizer.json");
}

// The ids of `text` (without special tokens), or {} after a test failure.
inline std::vector<int32_t> Encode(const Json& json, std::string_view text,
                                   bool add_special_tokens = false) {
  auto tokenizer = Load(json);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  if (!tokenizer.ok()) return {};
  auto ids = tokenizer->Encode(text, add_special_tokens);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

}  // namespace strata::tiny
