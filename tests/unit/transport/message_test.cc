// The header codec: round trips, and every malformed or out-of-limits header is refused with
// the right code (before any payload would be touched).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "common/transport/message.h"

namespace strata::transport {
namespace {

const LinkLimits kLimits{64, 256, ActivationDtype::kBF16, 4};

std::vector<std::byte> Encode(const MessageHeader& h) {
  std::vector<std::byte> out(EncodedHeaderBytes(h));
  EXPECT_EQ(EncodeHeader(h, out), out.size());
  return out;
}

StatusCode DecodeCode(const std::vector<std::byte>& bytes) {
  MessageHeader out;
  return DecodeHeader(bytes, kLimits, &out).code();
}

void Poke(std::vector<std::byte>& b, size_t offset, uint64_t value, int n) {
  for (int i = 0; i < n; ++i) b[offset + i] = static_cast<std::byte>(value >> (8 * i));
}

TEST(MessageHeader, RoundTripsAllKinds) {
  const MessageHeader act = ActivationsHeader(kLimits, 0x1122334455667788ULL,
                                              {{5, 0, 40}, {0xFFFFFFFFFFULL, 1000, 1}});
  EXPECT_EQ(act.rows, 41);
  EXPECT_EQ(act.payload_bytes, 41u * 256 * 2);
  MessageHeader err;
  err.kind = MessageKind::kError;
  err.payload_bytes = 12;
  MessageHeader shutdown;
  shutdown.kind = MessageKind::kShutdown;
  shutdown.step_id = 9;
  for (const MessageHeader& h : {act, err, shutdown}) {
    const std::vector<std::byte> bytes = Encode(h);
    MessageHeader back;
    ASSERT_TRUE(DecodeHeader(bytes, kLimits, &back).ok());
    EXPECT_EQ(back, h);
  }
}

TEST(MessageHeader, LayoutIsLittleEndianWhateverTheHost) {
  const std::vector<std::byte> b = Encode(ActivationsHeader(kLimits, 3, {{1, 2, 3}}));
  ASSERT_EQ(b.size(), kHeaderFixedBytes + kSeqSliceBytes);
  EXPECT_EQ(b[0], std::byte{'S'});
  EXPECT_EQ(b[3], std::byte{'T'});
  EXPECT_EQ(b[4], std::byte{2});  // version
  EXPECT_EQ(b[8], std::byte{3});  // step id
  EXPECT_EQ(b[16], std::byte{3});  // rows
  EXPECT_EQ(b[20], std::byte{0});  // cols 256 = 0x100
  EXPECT_EQ(b[21], std::byte{1});
}

TEST(MessageHeader, MalformedFramesAreDataLoss) {
  const std::vector<std::byte> good = Encode(ActivationsHeader(kLimits, 1, {{1, 0, 8}}));
  EXPECT_EQ(DecodeCode(std::vector<std::byte>(good.begin(), good.begin() + 20)),
            StatusCode::kDataLoss);
  auto bad = good;
  bad[0] = std::byte{'X'};
  EXPECT_EQ(DecodeCode(bad), StatusCode::kDataLoss);
  bad = good;
  Poke(bad, 26, 1, 2);  // flags
  EXPECT_EQ(DecodeCode(bad), StatusCode::kDataLoss);
  bad = good;
  Poke(bad, 6, 9, 2);  // kind
  EXPECT_EQ(DecodeCode(bad), StatusCode::kDataLoss);
  bad = good;
  bad.push_back(std::byte{0});  // length disagrees with the slice count
  EXPECT_EQ(DecodeCode(bad), StatusCode::kDataLoss);
}

TEST(MessageHeader, OtherVersionIsUnimplemented) {
  auto bad = Encode(ActivationsHeader(kLimits, 1, {{1, 0, 8}}));
  Poke(bad, 4, 1, 2);
  MessageHeader out;
  const Status s = DecodeHeader(bad, kLimits, &out);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("version 1"), std::string::npos) << s.message();
}

TEST(MessageHeader, ValuesOutsideTheLimitsAreInvalid) {
  const auto good = Encode(ActivationsHeader(kLimits, 1, {{1, 0, 8}}));
  ASSERT_EQ(DecodeCode(good), StatusCode::kOk);
  struct Case {
    size_t offset;
    uint64_t value;
    int n;
  };
  for (const Case c : {Case{16, 65, 4},                    // rows > max_rows
                       Case{16, 0, 4},                     // no rows
                       Case{20, 255, 4},                   // cols != hidden
                       Case{24, 1, 2},                     // fp32 on a bf16 link
                       Case{32, 8 * 256 * 2 + 1, 8},       // payload bytes != rows * cols * 2
                       Case{32, uint64_t{1} << 62, 8},     // absurd payload
                       Case{kHeaderFixedBytes + 12, 7, 4},  // slice tokens != rows
                       Case{kHeaderFixedBytes + 8, 0x80000000u, 4}}) {  // negative position
    auto bad = good;
    Poke(bad, c.offset, c.value, c.n);
    EXPECT_EQ(DecodeCode(bad), StatusCode::kInvalidArgument) << "offset " << c.offset;
  }
  auto many = good;
  Poke(many, 28, 5, 4);  // more slices than max_seqs, checked before the length
  EXPECT_EQ(DecodeCode(many), StatusCode::kInvalidArgument);
  auto huge = good;
  Poke(huge, 28, 0xFFFFFFFF, 4);
  EXPECT_EQ(DecodeCode(huge), StatusCode::kInvalidArgument);
}

// A tree slice (root, then nodes under it), a chain slice that keeps two nodes of its last
// tree, and one that keeps none.
MessageHeader TreeHeader() {
  return ActivationsHeader(kLimits, 4,
                           {{.seq_id = 1, .start_pos = 10, .n_tokens = 4, .tree_tokens = 4},
                            {.seq_id = 2, .start_pos = 7, .n_tokens = 1, .kept = 2},
                            {.seq_id = 3, .start_pos = 3, .n_tokens = 2}},
                           {-1, 0, 0, 1, /*kept:*/ 0, 3});
}

TEST(MessageHeader, TreesAndKeptNodesRoundTrip) {
  const MessageHeader h = TreeHeader();
  ASSERT_TRUE(ValidateHeader(h, kLimits).ok()) << ValidateHeader(h, kLimits).message();
  const std::vector<std::byte> bytes = Encode(h);
  EXPECT_EQ(bytes.size(), kHeaderFixedBytes + 3 * kSeqSliceBytes + 2 * 6);
  EXPECT_EQ(HeaderBytesFromFixedPart(std::span(bytes).first(kHeaderFixedBytes), kLimits),
            bytes.size());
  MessageHeader back;
  ASSERT_TRUE(DecodeHeader(bytes, kLimits, &back).ok());
  EXPECT_EQ(back, h);
  EXPECT_EQ(back.tree[2], 0);
}

TEST(MessageHeader, MalformedTreesAreInvalidByName) {
  auto refused = [](std::function<void(MessageHeader&)> edit) {
    MessageHeader h = TreeHeader();
    edit(h);
    return ValidateHeader(h, kLimits);
  };
  EXPECT_THAT(refused([](MessageHeader& h) { h.tree[0] = 0; }).message(),
              ::testing::HasSubstr("tree token 0 has parent 0"));
  EXPECT_THAT(refused([](MessageHeader& h) { h.tree[3] = 3; }).message(),
              ::testing::HasSubstr("tree token 3 has parent 3"));
  EXPECT_THAT(refused([](MessageHeader& h) { h.tree[5] = 0; }).message(),
              ::testing::HasSubstr("kept nodes must ascend"));
  EXPECT_THAT(refused([](MessageHeader& h) { h.seqs[0].tree_tokens = 2; }).message(),
              ::testing::HasSubstr("a tree is the whole slice"));
  EXPECT_THAT(refused([](MessageHeader& h) { h.tree.push_back(1); }).message(),
              ::testing::HasSubstr("tree values"));
  EXPECT_THAT(refused([](MessageHeader& h) { h.tree.pop_back(); }).message(),
              ::testing::HasSubstr("more tree values"));
  // On the wire: a count past the link's bound is refused before the length is read.
  auto bytes = Encode(TreeHeader());
  Poke(bytes, 40, kLimits.max_tree_values() + 1, 4);
  EXPECT_EQ(DecodeCode(bytes), StatusCode::kInvalidArgument);
  EXPECT_EQ(HeaderBytesFromFixedPart(std::span(bytes).first(kHeaderFixedBytes), kLimits),
            kLimits.max_header_bytes());
}

TEST(MessageHeader, ErrorTextAndShutdownAreBounded) {
  MessageHeader err;
  err.kind = MessageKind::kError;
  err.payload_bytes = kMaxErrorTextBytes + 1;
  EXPECT_EQ(ValidateHeader(err, kLimits).code(), StatusCode::kInvalidArgument);
  MessageHeader shutdown;
  shutdown.kind = MessageKind::kShutdown;
  shutdown.payload_bytes = 1;
  EXPECT_EQ(ValidateHeader(shutdown, kLimits).code(), StatusCode::kInvalidArgument);
}

TEST(LinkLimits, AreValidatedAndSizeTheBuffer) {
  EXPECT_TRUE(ValidateLimits(kLimits).ok());
  EXPECT_EQ(kLimits.max_payload_bytes(), 64u * 256 * 2);
  EXPECT_EQ((LinkLimits{1, 4, ActivationDtype::kF32, 1}.max_payload_bytes()), kMaxErrorTextBytes);
  EXPECT_FALSE(ValidateLimits({0, 256, ActivationDtype::kBF16, 1}).ok());
  EXPECT_FALSE(ValidateLimits({8, 256, ActivationDtype::kBF16, 9}).ok());
  EXPECT_FALSE(ValidateLimits({8, 256, static_cast<ActivationDtype>(7), 1}).ok());
}

}  // namespace
}  // namespace strata::transport
