// Tests for safetensors.h on synthetic files: a valid file's tensors and metadata, every
// corruption the header comment lists (each with its code, file and tensor named), and a
// seeded mutation test that Open never crashes or exposes bytes outside the file.
#include "common/model/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/model/model_test_util.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using testing::SafetensorsBytes;
using testing::SyntheticTensor;

std::vector<SyntheticTensor> TwoTensors() {
  return {{"b.weight", "F32", {2, 3}, testing::F32Data(6, 1.0f)},
          {"a.bias", "BF16", {4}, std::string("\x80\x3f\x00\x40\x40\x40\x80\x40", 8)}};
}

class SafetensorsTest : public ::testing::Test {
 protected:
  std::string Write(std::string_view bytes) {
    const std::string path = dir_.File("t.safetensors");
    testing::WriteFile(path, bytes);
    return path;
  }
  // Opens `bytes` and expects `code`, with the file's path and each of `parts` in the message.
  void ExpectError(std::string_view bytes, StatusCode code, const std::vector<std::string>& parts) {
    const std::string path = Write(bytes);
    StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), code) << f.status().ToString();
    EXPECT_THAT(f.status().message(), HasSubstr(path));
    for (const std::string& part : parts) EXPECT_THAT(f.status().message(), HasSubstr(part));
  }
  // The TwoTensors() file with header entry `name` replaced by `entry`.
  std::string WithEntry(const std::string& name, const Json& entry) {
    Json header = testing::SyntheticHeader(TwoTensors());
    header[name] = entry;
    return SafetensorsBytes(header.dump(), testing::SyntheticData(TwoTensors()));
  }

  testing::TempDir dir_;
};

TEST_F(SafetensorsTest, OpensValidFile) {
  const std::string path = Write(testing::SyntheticSafetensors(TwoTensors()));
  StatusOr<SafetensorsFile> f = SafetensorsFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->path(), path);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->tensors()[0].name, "a.bias");  // sorted by name
  EXPECT_EQ(f->metadata().at("format"), "pt");

  const TensorInfo* w = f->Find("b.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::kF32);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w->ShapeString(), "[2, 3]");
  EXPECT_EQ(w->numel(), 6);
  EXPECT_EQ(w->nbytes, 24u);
  EXPECT_EQ(w->file, path);
  float last;
  std::memcpy(&last, w->data + 20, 4);
  EXPECT_EQ(last, 6.0f);

  const TensorInfo* b = f->Find("a.bias");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kBF16);
  std::vector<float> values(4);
  ConvertToFloat(b->data, b->dtype, values.data(), 4);
  EXPECT_EQ(values, (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
  EXPECT_EQ(f->Find("c"), nullptr);
  EXPECT_EQ(f->Find("a"), nullptr);
}

TEST_F(SafetensorsTest, AcceptsPaddedHeaderScalarsAndEmptyTensors) {
  std::vector<SyntheticTensor> tensors = {{"scalar", "F16", {}, std::string("\x00\x3c", 2)},
                                          {"empty", "F32", {0, 5}, ""},
                                          {"fp8", "F8_E4M3", {3}, std::string("\x38\x7e\x01", 3)}};
  const std::string header = testing::SyntheticHeader(tensors).dump() + std::string(13, ' ');
  StatusOr<SafetensorsFile> f =
      SafetensorsFile::Open(Write(SafetensorsBytes(header, testing::SyntheticData(tensors))));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->Find("scalar")->numel(), 1);
  uint16_t scalar;
  std::memcpy(&scalar, f->Find("scalar")->data, 2);
  EXPECT_EQ(F16ToFloat(scalar), 1.0f);
  EXPECT_EQ(f->Find("scalar")->ShapeString(), "[]");
  EXPECT_EQ(f->Find("empty")->nbytes, 0u);
  EXPECT_EQ(f->Find("fp8")->dtype, DType::kF8E4M3);
  EXPECT_EQ(F8E4M3ToFloat(static_cast<uint8_t>(f->Find("fp8")->data[1])), 448.0f);
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  StatusOr<SafetensorsFile> f = SafetensorsFile::Open(dir_.File("absent.safetensors"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(f.status().message(), HasSubstr("absent.safetensors"));
}

TEST_F(SafetensorsTest, ShorterThanEightBytes) {
  ExpectError("", StatusCode::kDataLoss, {"shorter than the 8-byte", "re-download"});
  ExpectError(std::string(7, '\0'), StatusCode::kDataLoss, {"7 bytes"});
}

TEST_F(SafetensorsTest, HeaderLengthPastEndOfFile) {
  std::string bytes = testing::SyntheticSafetensors(TwoTensors());
  bytes[5] = '\x01';  // header length now > 2^40
  ExpectError(bytes, StatusCode::kDataLoss, {"header length"});
  ExpectError(std::string(8, '\xff'), StatusCode::kDataLoss, {"header length"});
  ExpectError(SafetensorsBytes("{}", "").substr(0, 9), StatusCode::kDataLoss, {"header length 2"});
}

TEST_F(SafetensorsTest, HeaderNotJsonOrNotObject) {
  ExpectError(SafetensorsBytes("{\"a\": ", ""), StatusCode::kDataLoss, {"not valid JSON"});
  ExpectError(SafetensorsBytes("[1, 2]", ""), StatusCode::kDataLoss, {"not a JSON object"});
  ExpectError(SafetensorsBytes("{\"__metadata__\": [1]}", ""), StatusCode::kDataLoss,
              {"__metadata__"});
  ExpectError(SafetensorsBytes("{\"__metadata__\": {\"k\": 1}}", ""), StatusCode::kDataLoss,
              {"__metadata__", "'k'"});
}

TEST_F(SafetensorsTest, TruncatedData) {
  const std::string bytes = testing::SyntheticSafetensors(TwoTensors());
  ExpectError(bytes.substr(0, bytes.size() - 1), StatusCode::kDataLoss,
              {"'a.bias'", "past the end of the data (31 bytes)", "truncated or corrupt"});
}

TEST_F(SafetensorsTest, MalformedEntries) {
  const StatusCode kLoss = StatusCode::kDataLoss;
  ExpectError(WithEntry("b.weight", 5), kLoss, {"'b.weight'", "not an object"});
  ExpectError(WithEntry("b.weight", {{"dtype", "F32"}, {"shape", {2, 3}}}), kLoss,
              {"'b.weight'", "data_offsets"});
  ExpectError(WithEntry("b.weight", {{"dtype", 7}, {"shape", {2, 3}}, {"data_offsets", {8, 32}}}),
              kLoss, {"'b.weight'", "dtype"});
  ExpectError(WithEntry("b.weight", {{"dtype", "F32"}, {"shape", 6}, {"data_offsets", {8, 32}}}),
              kLoss, {"'b.weight'", "shape"});
}

TEST_F(SafetensorsTest, BadShapes) {
  const StatusCode kLoss = StatusCode::kDataLoss;
  ExpectError(
      WithEntry("b.weight", {{"dtype", "F32"}, {"shape", {-2, -3}}, {"data_offsets", {8, 32}}}),
      kLoss, {"'b.weight'", "[-2,-3]"});
  ExpectError(
      WithEntry("b.weight", {{"dtype", "F32"}, {"shape", {2.0, 3}}, {"data_offsets", {8, 32}}}),
      kLoss, {"'b.weight'"});
  const int64_t big = int64_t{1} << 40;
  ExpectError(
      WithEntry("b.weight", {{"dtype", "F32"}, {"shape", {big, big}}, {"data_offsets", {8, 32}}}),
      kLoss, {"'b.weight'", "overflows"});
  // numel fits in int64 but numel * 4 bytes does not.
  ExpectError(
      WithEntry("b.weight",
                {{"dtype", "F32"}, {"shape", {int64_t{1} << 62}}, {"data_offsets", {8, 32}}}),
      kLoss, {"'b.weight'", "overflows"});
}

TEST_F(SafetensorsTest, BadOffsets) {
  const StatusCode kLoss = StatusCode::kDataLoss;
  auto entry = [](const Json& offsets) {
    return Json{{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", offsets}};
  };
  ExpectError(WithEntry("b.weight", entry({8.0, 32.0})), kLoss, {"'b.weight'", "data_offsets"});
  ExpectError(WithEntry("b.weight", entry({"8", "32"})), kLoss, {"'b.weight'"});
  ExpectError(WithEntry("b.weight", entry({8})), kLoss, {"'b.weight'"});
  ExpectError(WithEntry("b.weight", entry({-8, 16})), kLoss, {"'b.weight'"});
  ExpectError(WithEntry("b.weight", entry({32, 8})), kLoss, {"'b.weight'", "reversed"});
  ExpectError(WithEntry("b.weight", entry({16, 40})), kLoss,
              {"'b.weight'", "past the end of the data (32 bytes)"});
  ExpectError(WithEntry("b.weight", entry({8, 28})), kLoss,
              {"'b.weight'", "20 bytes", "F32", "[2, 3]", "needs 24"});
  ExpectError(WithEntry("b.weight", entry({8, 32})), kLoss,
              {"'a.bias'", "'b.weight'", "overlapping"});
}

TEST_F(SafetensorsTest, UnsupportedDtypeIsUnimplemented) {
  ExpectError(WithEntry("ids", {{"dtype", "I64"}, {"shape", {0}}, {"data_offsets", {32, 32}}}),
              StatusCode::kUnimplemented, {"'ids'", "I64"});
}

// Mutates a valid file many ways: Open must return OK or an error, and any tensor it returns
// must hold bytes of the file.
TEST_F(SafetensorsTest, RandomMutationsNeverCrash) {
  const std::vector<SyntheticTensor> tensors = {{"w", "BF16", {3, 4}, std::string(24, '\x11')},
                                                {"n", "F32", {5}, testing::F32Data(5)},
                                                {"x", "F8_E4M3", {7}, std::string(7, '\x38')}};
  const std::string header = testing::SyntheticHeader(tensors).dump();
  const std::string valid = SafetensorsBytes(header, testing::SyntheticData(tensors));
  const size_t header_end = 8 + header.size();
  const std::string interesting = "0123456789-[]{},:\". e";
  std::mt19937 rng(2024);
  int num_ok = 0, num_error = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid;
    switch (rng() % 4) {
      case 0:  // flip bits of 1-3 header bytes (the length included)
        for (uint32_t k = 0, n = 1 + rng() % 3; k < n; ++k) {
          bytes[rng() % header_end] ^= static_cast<char>(1 + rng() % 255);
        }
        break;
      case 1:  // overwrite a header byte with JSON punctuation or a digit
        bytes[8 + rng() % (header_end - 8)] = interesting[rng() % interesting.size()];
        break;
      case 2:  // truncate
        bytes.resize(rng() % bytes.size());
        break;
      default:  // change the header length to a nearby value
        bytes[0] =
            static_cast<char>(static_cast<uint8_t>(bytes[0]) + static_cast<int>(rng() % 9) - 4);
        break;
    }
    StatusOr<SafetensorsFile> f = SafetensorsFile::Open(Write(bytes));
    if (!f.ok()) {
      ++num_error;
      EXPECT_FALSE(f.status().message().empty());
      continue;
    }
    ++num_ok;
    for (const TensorInfo& t : f->tensors()) {
      ASSERT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * DTypeSize(t.dtype)) << t.name;
      const std::string_view data(reinterpret_cast<const char*>(t.data), t.nbytes);
      EXPECT_NE(bytes.find(data), std::string::npos) << t.name;
    }
  }
  EXPECT_GT(num_ok, 0);
  EXPECT_GT(num_error, 0);
}

}  // namespace
}  // namespace strata
