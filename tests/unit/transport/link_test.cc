// The link contract, run against every host transport (loopback and UCX over TCP on
// 127.0.0.1): bit-exact payloads small and large, ordering with many messages in flight,
// malformed frames refused without overrunning the receive buffer while the link keeps
// working, shutdown and error messages, and bounded failure when either end goes away.
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/transport/loopback/loopback_transport.h"
#include "common/transport/ucx/ucx_transport.h"

namespace strata::transport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// UCX reads UCX_TLS when a context is created: TCP works in every container and network.
const bool kUcxOverTcp = [] { return setenv("UCX_TLS", "tcp", 1) == 0; }();

struct Link {
  std::unique_ptr<ActivationSender> sender;
  std::unique_ptr<ActivationReceiver> receiver;
};

// A receive buffer with guard bytes after the part the link may write.
struct GuardedBuffer {
  static constexpr size_t kGuard = 4096;
  explicit GuardedBuffer(size_t n) : bytes(n + kGuard, std::byte{0xA5}), size(n) {}
  std::span<std::byte> span() { return std::span(bytes).first(size); }
  bool GuardIntact() const {
    for (size_t i = size; i < bytes.size(); ++i) {
      if (bytes[i] != std::byte{0xA5}) return false;
    }
    return true;
  }
  std::vector<std::byte> bytes;
  size_t size;
};

std::vector<std::byte> RandomBytes(size_t n, uint64_t seed) {
  std::vector<std::byte> out(n);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

class LinkTest : public ::testing::TestWithParam<std::string> {
 protected:
  Link Make(const LinkLimits& limits, std::span<std::byte> buffer, LinkOptions options = {}) {
    EXPECT_TRUE(kUcxOverTcp);
    if (GetParam() == "loopback") {
      StatusOr<LoopbackLink> l = CreateLoopbackLink(limits, options, buffer);
      EXPECT_TRUE(l.ok()) << l.status().ToString();
      return {std::move(l->sender), std::move(l->receiver)};
    }
    StatusOr<UcxListening> listening = ListenUcx("127.0.0.1:0", limits, options, buffer);
    EXPECT_TRUE(listening.ok()) << listening.status().ToString();
    EXPECT_NE(listening->port, 0);
    StatusOr<std::unique_ptr<ActivationSender>> sender =
        ConnectUcx("127.0.0.1:" + std::to_string(listening->port), limits, options);
    EXPECT_TRUE(sender.ok()) << sender.status().ToString();
    return {std::move(*sender), std::move(listening->receiver)};
  }
};

TEST_P(LinkTest, SmallAndLargeMessagesArriveBitExact) {
  const LinkLimits limits{2048, 8192, ActivationDtype::kBF16, 8};  // 32 MiB prefill chunk
  GuardedBuffer buffer(limits.max_payload_bytes());
  Link link = Make(limits, buffer.span());
  for (const int rows : {1, 2048, 3}) {
    const MessageHeader h = ActivationsHeader(limits, 100 + rows, {{42, 17, rows}});
    const std::vector<std::byte> payload = RandomBytes(h.payload_bytes, rows);
    StatusOr<uint64_t> ticket = link.sender->Send(h, payload.data());
    ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
    StatusOr<const ReceivedMessage*> m = link.receiver->Receive(20s);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_TRUE(link.sender->WaitSent(*ticket).ok());
    EXPECT_EQ((*m)->header, h);
    ASSERT_EQ((*m)->payload.size(), payload.size());
    EXPECT_EQ(std::memcmp((*m)->payload.data(), payload.data(), payload.size()), 0) << rows;
    EXPECT_EQ((*m)->payload.data(), buffer.bytes.data());  // written in place
  }
  EXPECT_TRUE(buffer.GuardIntact());
  const HopStats sent = link.sender->stats();
  EXPECT_EQ(sent.messages, 3u);
  EXPECT_EQ(sent.payload_bytes, (1 + 2048 + 3) * 8192u * 2);
  EXPECT_GT(sent.seconds_max, 0);
  EXPECT_EQ(link.receiver->stats().messages, 3u);
}

TEST_P(LinkTest, ManyMessagesInFlightKeepTheirOrder) {
  const LinkLimits limits{32, 512, ActivationDtype::kF32, 4};
  GuardedBuffer buffer(limits.max_payload_bytes());
  LinkOptions options;
  options.max_in_flight = 8;
  Link link = Make(limits, buffer.span(), options);
  constexpr int kMessages = 300;
  // Each message's payload stays untouched until its ticket completed: a ring of buffers.
  std::vector<std::vector<std::byte>> payloads(options.max_in_flight);
  Status send_status;
  std::thread sender([&] {
    for (int i = 0; i < kMessages && send_status.ok(); ++i) {
      if (i >= options.max_in_flight) {
        send_status = link.sender->WaitSent(static_cast<uint64_t>(i - options.max_in_flight));
        if (!send_status.ok()) break;
      }
      const int rows = 1 + i % limits.max_rows;
      auto& p = payloads[i % options.max_in_flight];
      const MessageHeader h = ActivationsHeader(limits, i, {{static_cast<uint64_t>(i), i, rows}});
      p = RandomBytes(h.payload_bytes, i);
      StatusOr<uint64_t> t = link.sender->Send(h, p.data());
      send_status = t.ok() ? (*t == static_cast<uint64_t>(i) ? OkStatus() : Internal("ticket"))
                           : t.status();
    }
  });
  for (int i = 0; i < kMessages; ++i) {
    StatusOr<const ReceivedMessage*> m = link.receiver->Receive(20s);
    ASSERT_TRUE(m.ok()) << i << ": " << m.status().ToString();
    ASSERT_EQ((*m)->header.step_id, static_cast<uint64_t>(i));
    const std::vector<std::byte> expected = RandomBytes((*m)->header.payload_bytes, i);
    ASSERT_EQ(std::memcmp((*m)->payload.data(), expected.data(), expected.size()), 0) << i;
  }
  sender.join();
  EXPECT_TRUE(send_status.ok()) << send_status.ToString();
  EXPECT_TRUE(buffer.GuardIntact());
}

TEST_P(LinkTest, MalformedFramesAreRefusedAndTheLinkKeepsWorking) {
  const LinkLimits limits{16, 256, ActivationDtype::kBF16, 2};
  GuardedBuffer buffer(limits.max_payload_bytes());
  Link link = Make(limits, buffer.span());
  const MessageHeader good = ActivationsHeader(limits, 1, {{1, 0, 4}});
  std::vector<std::byte> encoded(EncodedHeaderBytes(good));
  EncodeHeader(good, encoded);
  const std::vector<std::byte> payload = RandomBytes(good.payload_bytes, 1);
  // Big enough to overrun the receive buffer if anything trusted the sender.
  const std::vector<std::byte> oversized = RandomBytes(limits.max_payload_bytes() * 2, 2);

  auto wrong_version = encoded;
  wrong_version[4] = std::byte{9};
  auto too_many_rows = encoded;
  too_many_rows[16] = std::byte{17};
  const std::vector<std::byte> garbage = RandomBytes(56, 3);  // fits the header buffer
  struct Frame {
    std::span<const std::byte> header;
    const std::vector<std::byte>* payload;
    StatusCode code;
  };
  for (const Frame& f : {Frame{wrong_version, &payload, StatusCode::kUnimplemented},
                         Frame{too_many_rows, &oversized, StatusCode::kInvalidArgument},
                         Frame{garbage, &payload, StatusCode::kDataLoss},
                         Frame{encoded, &oversized, StatusCode::kDataLoss}}) {
    StatusOr<uint64_t> t = link.sender->SendEncoded(f.header, f.payload->data(), f.payload->size());
    if (!t.ok()) {
      // A header longer than the link allows is refused before it leaves.
      EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
      continue;
    }
    StatusOr<const ReceivedMessage*> m = link.receiver->Receive(20s);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), f.code) << m.status().ToString();
    EXPECT_TRUE(link.sender->WaitSent(*t).ok());
    EXPECT_TRUE(buffer.GuardIntact());
    // The next well-formed message still arrives intact.
    StatusOr<uint64_t> t2 = link.sender->Send(good, payload.data());
    ASSERT_TRUE(t2.ok());
    m = link.receiver->Receive(20s);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(std::memcmp((*m)->payload.data(), payload.data(), payload.size()), 0);
  }
  // The sender refuses a header outside the limits before sending anything.
  MessageHeader too_wide = good;
  too_wide.cols = 512;
  EXPECT_EQ(link.sender->Send(too_wide, payload.data()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(LinkTest, ShutdownAndErrorMessagesArrive) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  GuardedBuffer buffer(limits.max_payload_bytes());
  Link link = Make(limits, buffer.span());
  {
    std::string text = "stage 2: CUDA out of memory";
    ASSERT_TRUE(link.sender->SendError(5, text).ok());
    text.assign(text.size(), 'X');  // the text was copied
  }
  StatusOr<uint64_t> shutdown = link.sender->SendShutdown(6);
  ASSERT_TRUE(shutdown.ok());
  StatusOr<const ReceivedMessage*> m = link.receiver->Receive(20s);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->header.kind, MessageKind::kError);
  EXPECT_EQ((*m)->header.step_id, 5u);
  EXPECT_EQ((*m)->error_text(), "stage 2: CUDA out of memory");
  m = link.receiver->Receive(20s);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->header.kind, MessageKind::kShutdown);
  EXPECT_TRUE((*m)->payload.empty());
  EXPECT_TRUE(link.sender->WaitSent(*shutdown).ok());
}

TEST_P(LinkTest, ReceiveTimesOutThenStillReceives) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  GuardedBuffer buffer(limits.max_payload_bytes());
  Link link = Make(limits, buffer.span());
  const Clock::time_point start = Clock::now();
  StatusOr<const ReceivedMessage*> m = link.receiver->Receive(150ms);
  EXPECT_EQ(m.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_GE(Clock::now() - start, 150ms);
  EXPECT_LT(Clock::now() - start, 2s);
  const MessageHeader h = ActivationsHeader(limits, 3, {{1, 0, 4}});
  const std::vector<std::byte> payload = RandomBytes(h.payload_bytes, 3);
  ASSERT_TRUE(link.sender->Send(h, payload.data()).ok());
  m = link.receiver->Receive(20s);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(std::memcmp((*m)->payload.data(), payload.data(), payload.size()), 0);
}

TEST_P(LinkTest, SenderGoneDeliversWhatWasSentThenFailsQuickly) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  GuardedBuffer buffer(limits.max_payload_bytes());
  Link link = Make(limits, buffer.span());
  const MessageHeader h = ActivationsHeader(limits, 1, {{1, 0, 2}});
  const std::vector<std::byte> payload = RandomBytes(h.payload_bytes, 1);
  ASSERT_TRUE(link.sender->Send(h, payload.data()).ok());
  ASSERT_TRUE(link.sender->Send(h, payload.data()).ok());
  // Destroyed on another thread: a sender's destructor waits (up to its timeout) for what it
  // has in flight, which on loopback means for this thread to receive it.
  std::thread closer([&] { link.sender.reset(); });
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(link.receiver->Receive(20s).ok()) << i;
  const Clock::time_point start = Clock::now();
  StatusOr<const ReceivedMessage*> m = link.receiver->Receive(30s);
  EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status().ToString();
  EXPECT_LT(Clock::now() - start, 5s) << m.status().ToString();
  closer.join();
}

TEST_P(LinkTest, ReceiverGoneFailsTheSenderWithinItsTimeout) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  GuardedBuffer buffer(limits.max_payload_bytes());
  LinkOptions options;
  options.timeout = 2s;
  options.max_in_flight = 2;
  Link link = Make(limits, buffer.span(), options);
  link.receiver.reset();
  const MessageHeader h = ActivationsHeader(limits, 1, {{1, 0, 4}});
  const std::vector<std::byte> payload = RandomBytes(h.payload_bytes, 1);
  const Clock::time_point start = Clock::now();
  Status status;
  // Sends may still be accepted while the loss propagates; a few must fail.
  for (int i = 0; i < 4 && status.ok(); ++i) {
    StatusOr<uint64_t> t = link.sender->Send(h, payload.data());
    status = t.ok() ? link.sender->WaitSent(*t) : t.status();
  }
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_P(LinkTest, ReceiveBufferSmallerThanTheLimitsIsRefused) {
  const LinkLimits limits{4, 1024, ActivationDtype::kF32, 1};
  std::vector<std::byte> small(limits.max_payload_bytes() - 1);
  if (GetParam() == "loopback") {
    EXPECT_EQ(CreateLoopbackLink(limits, {}, small).status().code(), StatusCode::kInvalidArgument);
  } else {
    EXPECT_EQ(ListenUcx("127.0.0.1:0", limits, {}, small).status().code(),
              StatusCode::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, LinkTest, ::testing::Values("loopback", "ucx"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace strata::transport
