// The link contract of transport.h as one parameterised suite that every transport passes:
// link_conformance.cc holds the test bodies, and each test binary instantiates
// LinkConformanceTest with the transports it can run (host_links_test.cc: loopback and UCX
// on CPU backends; tests/unit/nccl: NCCL between two GPUs, skipped where they do not answer).
// Payloads are moved in and out of the link's memory through the sides' backends, so the same
// body checks host and device links.
// Thread-safety: a gtest fixture; each test drives its sender and receiver from at most two
// threads, one per side.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/backend/backend.h"
#include "common/transport/local_link.h"
#include "common/transport/transport.h"

namespace strata::transport::testing {

// A transport under test and what the contract lets it do differently.
struct TransportUnderTest {
  std::string name;
  std::string sender_backend;    // CreateBackend spec of the sending side ("cpu", "cuda:0")
  std::string receiver_backend;  // and of the receiving side
  // A transport on a side's backend.
  std::function<StatusOr<std::unique_ptr<Transport>>(Backend&, const LinkOptions&)> make;
  // Both sides use the sending side's transport (loopback: the ends meet inside it).
  bool one_transport = false;
  // A malformed message is consumed and the link goes on (else it fails the link for good:
  // NCCL cannot skip the payload behind a bad header).
  bool skips_malformed_messages = true;
  // A receiver learns at once that its sender is gone (kUnavailable); else its Receive times
  // out (kDeadlineExceeded, NCCL: the peer's communicator ending is not signalled).
  bool reports_peer_loss = true;
};
void PrintTo(const TransportUnderTest& t, std::ostream* os);

class LinkConformanceTest : public ::testing::TestWithParam<TransportUnderTest> {
 protected:
  // A receive buffer in the receiving transport's memory with guard bytes after the part a
  // link may write.
  struct GuardedBuffer {
    static constexpr size_t kGuard = 4096;
    DeviceBuffer memory;  // (size + kGuard)
    size_t size = 0;
    std::span<std::byte> span() const { return {memory.get(), size}; }
  };

  // Makes the two sides' backends; skips the test when one cannot be made (no such GPU).
  void SetUp() override;

  // (Re)makes the transports with these LinkOptions; every helper below uses the latest.
  void MakeTransports(std::chrono::milliseconds timeout = LinkOptions{}.timeout,
                      int max_in_flight = LinkOptions{}.max_in_flight);
  Transport& sending() { return *sending_; }
  Transport& receiving() { return one_transport() ? *sending_ : *receiving_; }
  bool one_transport() const { return GetParam().one_transport; }
  Backend& sender_backend() { return *sender_backend_; }
  Backend& receiver_backend() { return *receiver_backend_; }

  GuardedBuffer MakeBuffer(size_t size);
  bool GuardIntact(const GuardedBuffer& buffer);
  // A link of the latest transports into `buffer` (fails the test when it cannot be made).
  LocalLink Connect(const LinkLimits& limits, const GuardedBuffer& buffer);

  // An activations message of `slices` with a random payload (seeded by `step`), and the
  // payload uploaded for sending.
  struct Message {
    MessageHeader header;
    std::vector<std::byte> payload;  // (rows, cols) random, in host memory
    DeviceBuffer sent;               // the same bytes in the sending transport's memory
  };
  Message MakeMessage(const LinkLimits& limits, uint64_t step, std::vector<SeqSlice> slices);

  // `bytes` in the sending transport's memory.
  DeviceBuffer Upload(const std::vector<std::byte>& bytes);
  void Upload(const std::vector<std::byte>& bytes, std::byte* to);
  // A received payload back in host memory; the receiver may then refill its buffer.
  std::vector<std::byte> Download(ActivationReceiver& receiver, std::span<const std::byte> payload);
  // Receives the next message (waiting up to 20 s) and checks that its payload is `payload`;
  // the message, or null (a failure recorded) when none arrived.
  const ReceivedMessage* ExpectPayload(ActivationReceiver& receiver,
                                       const std::vector<std::byte>& payload);

 private:
  std::unique_ptr<Backend> sender_backend_, receiver_backend_;
  std::unique_ptr<Transport> sending_, receiving_;
};

// `n` reproducible pseudo-random bytes.
std::vector<std::byte> RandomBytes(size_t n, uint64_t seed);

}  // namespace strata::transport::testing
