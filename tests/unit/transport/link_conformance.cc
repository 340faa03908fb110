// The bodies of the link conformance suite (see link_conformance.h): messages of every shape
// bit-exact up to a 32 MiB prefill chunk, ordering with many messages in flight, malformed
// messages refused without overrunning the receive buffer, shutdown and error messages, a
// silent peer (Receive times out, then receives), an absent peer (Connect fails within the
// link timeout), a peer that disappears mid-stream (an error within a bound, never a hang),
// a buffer smaller than the limits refused, and links closed and made again.
#include "tests/unit/transport/link_conformance.h"

#include <cstring>
#include <random>
#include <thread>

#include "common/backend/backend_factory.h"

namespace strata::transport::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

void PrintTo(const TransportUnderTest& t, std::ostream* os) { *os << t.name; }

std::vector<std::byte> RandomBytes(size_t n, uint64_t seed) {
  std::vector<std::byte> out(n);
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

// ---- the fixture ----------------------------------------------------------------------

void LinkConformanceTest::SetUp() {
  for (auto [spec, backend] : {std::pair{GetParam().sender_backend, &sender_backend_},
                               std::pair{GetParam().receiver_backend, &receiver_backend_}}) {
    StatusOr<std::unique_ptr<Backend>> b = CreateBackend(spec);
    if (!b.ok()) GTEST_SKIP() << spec << " does not answer: " << b.status().ToString();
    *backend = std::move(b).value();
  }
  MakeTransports();
}

void LinkConformanceTest::MakeTransports(std::chrono::milliseconds timeout, int max_in_flight) {
  LinkOptions options;
  options.timeout = timeout;
  options.max_in_flight = max_in_flight;
  sending_.reset();
  receiving_.reset();
  StatusOr<std::unique_ptr<Transport>> t = GetParam().make(*sender_backend_, options);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  sending_ = std::move(t).value();
  if (one_transport()) return;
  t = GetParam().make(*receiver_backend_, options);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  receiving_ = std::move(t).value();
}

LinkConformanceTest::GuardedBuffer LinkConformanceTest::MakeBuffer(size_t size) {
  GuardedBuffer b;
  StatusOr<DeviceBuffer> memory =
      AllocateLinkBuffer(*receiver_backend_, receiving().memory(), size + GuardedBuffer::kGuard);
  EXPECT_TRUE(memory.ok()) << memory.status().ToString();
  b.memory = std::move(memory).value();
  b.size = size;
  const std::vector<std::byte> guard(GuardedBuffer::kGuard, std::byte{0xA5});
  receiver_backend_->CopyToDevice(b.memory.get() + size, guard.data(), guard.size());
  return b;
}

bool LinkConformanceTest::GuardIntact(const GuardedBuffer& buffer) {
  std::vector<std::byte> guard(GuardedBuffer::kGuard);
  receiver_backend_->CopyToHost(guard.data(), buffer.memory.get() + buffer.size, guard.size());
  return guard == std::vector<std::byte>(GuardedBuffer::kGuard, std::byte{0xA5});
}

LocalLink LinkConformanceTest::Connect(const LinkLimits& limits, const GuardedBuffer& buffer) {
  StatusOr<LocalLink> link = ConnectLocalLink(sending(), receiving(), limits, buffer.span());
  EXPECT_TRUE(link.ok()) << link.status().ToString();
  return link.ok() ? std::move(link).value() : LocalLink{};
}

void LinkConformanceTest::Upload(const std::vector<std::byte>& bytes, std::byte* to) {
  sender_backend_->CopyToDevice(to, bytes.data(), bytes.size());
}

DeviceBuffer LinkConformanceTest::Upload(const std::vector<std::byte>& bytes) {
  StatusOr<DeviceBuffer> b =
      AllocateLinkBuffer(*sender_backend_, sending().memory(), std::max<size_t>(bytes.size(), 1));
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  Upload(bytes, b->get());
  return std::move(b).value();
}

LinkConformanceTest::Message LinkConformanceTest::MakeMessage(const LinkLimits& limits,
                                                              uint64_t step,
                                                              std::vector<SeqSlice> slices) {
  Message m;
  m.header = ActivationsHeader(limits, step, std::move(slices));
  m.payload = RandomBytes(m.header.payload_bytes, step);
  m.sent = Upload(m.payload);
  return m;
}

std::vector<std::byte> LinkConformanceTest::Download(ActivationReceiver& receiver,
                                                     std::span<const std::byte> payload) {
  std::vector<std::byte> out(payload.size());
  receiver_backend_->CopyToHost(out.data(), payload.data(), payload.size());
  receiver.Consumed();
  return out;
}

const ReceivedMessage* LinkConformanceTest::ExpectPayload(ActivationReceiver& receiver,
                                                          const std::vector<std::byte>& payload) {
  StatusOr<const ReceivedMessage*> m = receiver.Receive(20s);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return nullptr;
  EXPECT_TRUE(Download(receiver, (*m)->payload) == payload);
  return *m;
}

// ---- the contract ---------------------------------------------------------------------

TEST_P(LinkConformanceTest, MessagesOfEveryShapeArriveBitExact) {
  const LinkLimits limits{2048, 8192, ActivationDtype::kBF16, 8};  // 32 MiB prefill chunk
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
  const std::vector<std::vector<SeqSlice>> batches = {
      {{42, 17, 1}},                          // a decode step of one sequence
      {{42, 0, 2048}},                        // a whole prefill chunk
      {{1, 5, 1}, {2, 9, 1}, {3, 0, 3}},      // a mixed batch
  };
  uint64_t bytes_sent = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    const Message sent = MakeMessage(limits, 100 + i, batches[i]);
    const MessageHeader& h = sent.header;
    StatusOr<uint64_t> ticket = link.sender->Send(h, sent.sent.get());
    ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
    const ReceivedMessage* m = ExpectPayload(*link.receiver, sent.payload);
    ASSERT_NE(m, nullptr) << i;
    EXPECT_EQ(m->header, h);
    EXPECT_EQ(m->payload.data(), buffer.memory.get());  // written in place
    ASSERT_TRUE(link.sender->WaitSent(*ticket).ok());
    bytes_sent += h.payload_bytes;
  }
  EXPECT_TRUE(GuardIntact(buffer));
  const HopStats sent = link.sender->stats();
  EXPECT_EQ(sent.messages, batches.size());
  EXPECT_EQ(sent.payload_bytes, bytes_sent);
  EXPECT_GT(sent.seconds_max, 0);
  EXPECT_EQ(link.receiver->stats().messages, batches.size());
  EXPECT_EQ(link.receiver->stats().payload_bytes, bytes_sent);
}

TEST_P(LinkConformanceTest, ManyMessagesInFlightKeepTheirOrder) {
  const LinkLimits limits{32, 512, ActivationDtype::kF32, 4};
  constexpr int kInFlight = 8;
  MakeTransports(LinkOptions{}.timeout, kInFlight);
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
  constexpr int kMessages = 300;
  // Each message's payload stays untouched until its ticket completed: a ring of buffers.
  std::vector<DeviceBuffer> ring;
  for (int i = 0; i < kInFlight; ++i) {
    ring.push_back(Upload(std::vector<std::byte>(limits.max_payload_bytes())));
  }
  Status send_status;
  std::thread sender([&] {
    for (int i = 0; i < kMessages && send_status.ok(); ++i) {
      if (i >= kInFlight) {
        send_status = link.sender->WaitSent(static_cast<uint64_t>(i - kInFlight));
        if (!send_status.ok()) break;
      }
      const int rows = 1 + i % limits.max_rows;
      std::byte* payload = ring[static_cast<size_t>(i % kInFlight)].get();
      const MessageHeader h = ActivationsHeader(limits, i, {{static_cast<uint64_t>(i), i, rows}});
      Upload(RandomBytes(h.payload_bytes, i), payload);
      StatusOr<uint64_t> t = link.sender->Send(h, payload);
      send_status = t.ok() ? (*t == static_cast<uint64_t>(i) ? OkStatus() : Internal("ticket"))
                           : t.status();
    }
  });
  for (int i = 0; i < kMessages; ++i) {
    StatusOr<const ReceivedMessage*> m = link.receiver->Receive(20s);
    ASSERT_TRUE(m.ok()) << i << ": " << m.status().ToString();
    ASSERT_EQ((*m)->header.step_id, static_cast<uint64_t>(i));
    ASSERT_TRUE(Download(*link.receiver, (*m)->payload) ==
                RandomBytes((*m)->header.payload_bytes, i))
        << i;
  }
  sender.join();
  EXPECT_TRUE(send_status.ok()) << send_status.ToString();
  EXPECT_TRUE(GuardIntact(buffer));
}

TEST_P(LinkConformanceTest, MalformedMessagesAreRefused) {
  const LinkLimits limits{16, 256, ActivationDtype::kBF16, 2};
  MakeTransports(2s);  // a refused message's payload may never be taken
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
  const Message good_message = MakeMessage(limits, 1, {{1, 0, 4}});
  const MessageHeader& good = good_message.header;
  const std::vector<std::byte>& payload = good_message.payload;
  const std::byte* good_payload = good_message.sent.get();
  // The sender refuses a header outside the limits before sending anything.
  MessageHeader too_wide = good;
  too_wide.cols = 512;
  EXPECT_EQ(link.sender->Send(too_wide, good_payload).status().code(),
            StatusCode::kInvalidArgument);

  std::vector<std::byte> encoded(EncodedHeaderBytes(good));
  EncodeHeader(good, encoded);
  // Big enough to overrun the receive buffer if anything trusted the sender.
  const DeviceBuffer oversized = Upload(RandomBytes(limits.max_payload_bytes() * 2, 2));
  auto wrong_version = encoded;
  wrong_version[4] = std::byte{9};
  auto too_many_rows = encoded;
  too_many_rows[16] = std::byte{17};
  const std::vector<std::byte> garbage = RandomBytes(56, 3);  // fits the header buffer
  struct Frame {
    std::span<const std::byte> header;
    const std::byte* payload;
    size_t payload_bytes;
    StatusCode code;
  };
  const Frame frames[] = {
      {wrong_version, good_payload, payload.size(), StatusCode::kUnimplemented},
      {too_many_rows, oversized.get(), 2 * limits.max_payload_bytes(),
       StatusCode::kInvalidArgument},
      {garbage, good_payload, payload.size(), StatusCode::kDataLoss},
      {encoded, oversized.get(), 2 * limits.max_payload_bytes(), StatusCode::kDataLoss}};
  for (const Frame& f : frames) {
    StatusOr<uint64_t> t = link.sender->SendEncoded(f.header, f.payload, f.payload_bytes);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    StatusOr<const ReceivedMessage*> m = link.receiver->Receive(20s);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), f.code) << m.status().ToString();
    EXPECT_TRUE(GuardIntact(buffer));
    if (!GetParam().skips_malformed_messages) {
      // The link is closed for good: every later call says why. The refused payload is never
      // taken: the sender gives up on it (aborting its link) before its memory goes.
      EXPECT_EQ(link.receiver->Receive(1s).status().code(), f.code);
      link = {};
      return;
    }
    EXPECT_TRUE(link.sender->WaitSent(*t).ok());
    // The next well-formed message still arrives intact.
    ASSERT_TRUE(link.sender->Send(good, good_payload).ok());
    ExpectPayload(*link.receiver, payload);
  }
}

TEST_P(LinkConformanceTest, ShutdownAndErrorMessagesArrive) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
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
  EXPECT_EQ((*m)->error_text(), "stage 2: CUDA out of memory");  // in host memory
  m = link.receiver->Receive(20s);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)->header.kind, MessageKind::kShutdown);
  EXPECT_TRUE((*m)->payload.empty());
  EXPECT_TRUE(link.sender->WaitSent(*shutdown).ok());
}

TEST_P(LinkConformanceTest, SilentPeerTimesOutThenStillReceives) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
  const Clock::time_point start = Clock::now();
  StatusOr<const ReceivedMessage*> m = link.receiver->Receive(150ms);
  EXPECT_EQ(m.status().code(), StatusCode::kDeadlineExceeded) << m.status().ToString();
  EXPECT_GE(Clock::now() - start, 150ms);
  EXPECT_LT(Clock::now() - start, 2s);
  const Message sent = MakeMessage(limits, 3, {{1, 0, 4}});
  ASSERT_TRUE(link.sender->Send(sent.header, sent.sent.get()).ok());
  ExpectPayload(*link.receiver, sent.payload);
}

TEST_P(LinkConformanceTest, ConnectingToAnAbsentReceiverFailsWithinTheTimeout) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  MakeTransports(2s);
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  StatusOr<Listening> listening = receiving().Listen(limits, buffer.span());
  ASSERT_TRUE(listening.ok()) << listening.status().ToString();
  listening->receiver.reset();  // gone before it ever opened
  const Clock::time_point start = Clock::now();
  StatusOr<std::unique_ptr<ActivationSender>> sender =
      sending().Connect(listening->address, limits);
  EXPECT_EQ(sender.status().code(), StatusCode::kUnavailable) << sender.status().ToString();
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_P(LinkConformanceTest, SenderGoneMidStreamDeliversWhatWasSentThenFails) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  MakeTransports(5s);
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
  const Message sent = MakeMessage(limits, 1, {{1, 0, 2}});
  ASSERT_TRUE(link.sender->Send(sent.header, sent.sent.get()).ok());
  ASSERT_TRUE(link.sender->Send(sent.header, sent.sent.get()).ok());
  // Destroyed on another thread: a sender's destructor waits (up to its timeout) for what it
  // has in flight, which may mean for this thread to receive it.
  std::thread closer([&] { link.sender.reset(); });
  // The close usually reaches the receiver before it looks: what was sent is delivered still.
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 2; ++i) ExpectPayload(*link.receiver, sent.payload);
  closer.join();
  const Clock::time_point start = Clock::now();
  StatusOr<const ReceivedMessage*> m =
      link.receiver->Receive(GetParam().reports_peer_loss ? 30s : 2s);
  if (GetParam().reports_peer_loss) {
    EXPECT_EQ(m.status().code(), StatusCode::kUnavailable) << m.status().ToString();
  } else {
    EXPECT_FALSE(m.ok());
  }
  EXPECT_LT(Clock::now() - start, 5s) << m.status().ToString();
}

TEST_P(LinkConformanceTest, ReceiverGoneFailsTheSenderWithinItsTimeout) {
  const LinkLimits limits{4, 64, ActivationDtype::kF32, 1};
  MakeTransports(2s, 2);
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  LocalLink link = Connect(limits, buffer);
  ASSERT_NE(link.sender, nullptr);
  link.receiver.reset();
  const Message sent = MakeMessage(limits, 1, {{1, 0, 4}});
  const Clock::time_point start = Clock::now();
  Status status;
  // Sends may still be accepted while the loss propagates; a few must fail.
  for (int i = 0; i < 4 && status.ok(); ++i) {
    StatusOr<uint64_t> t = link.sender->Send(sent.header, sent.sent.get());
    status = t.ok() ? link.sender->WaitSent(*t) : t.status();
  }
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST_P(LinkConformanceTest, ReceiveBufferSmallerThanTheLimitsIsRefused) {
  const LinkLimits limits{4, 1024, ActivationDtype::kF32, 1};
  const GuardedBuffer small = MakeBuffer(limits.max_payload_bytes() - 1);
  EXPECT_EQ(receiving().Listen(limits, small.span()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(LinkConformanceTest, ClosedLinksAreMadeAgain) {
  const LinkLimits limits{8, 128, ActivationDtype::kF32, 2};
  const GuardedBuffer buffer = MakeBuffer(limits.max_payload_bytes());
  for (int round = 0; round < 3; ++round) {
    LocalLink link = Connect(limits, buffer);
    ASSERT_NE(link.sender, nullptr) << round;
    const Message sent = MakeMessage(limits, round, {{7, 0, 1 + round}});
    StatusOr<uint64_t> t = link.sender->Send(sent.header, sent.sent.get());
    ASSERT_TRUE(t.ok()) << round << ": " << t.status().ToString();
    const ReceivedMessage* m = ExpectPayload(*link.receiver, sent.payload);
    ASSERT_NE(m, nullptr) << round;
    EXPECT_EQ(m->header, sent.header);
    ASSERT_TRUE(link.sender->WaitSent(*t).ok());
    EXPECT_EQ(link.receiver->stats().messages, 1u) << round;  // a new link counts afresh
  }
  EXPECT_TRUE(GuardIntact(buffer));
}

}  // namespace strata::transport::testing
