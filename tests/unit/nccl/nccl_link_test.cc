// NCCL links between two GPUs of this process (one rank per device, one thread per rank):
// id hex round trip, a quiet link timing out without breaking, a decode and a prefill-sized
// message bit-exact, an error message, and a malformed header failing the link. Needs two visible GPUs (NCCL refuses two ranks on one
// device); skips itself otherwise.
#include <cuda_runtime.h>

#include <cstring>
#include <future>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/backend/device_check.h"
#include "common/transport/nccl/nccl_transport.h"

namespace strata::transport {
namespace {

using namespace std::chrono_literals;

const LinkLimits kLimits{2048, 8192, ActivationDtype::kBF16, 4};

TEST(NcclId, HexRoundTrips) {
  ncclUniqueId id;
  for (size_t i = 0; i < sizeof id.internal; ++i) id.internal[i] = static_cast<char>(i * 37);
  const std::string hex = NcclUniqueIdToHex(id);
  EXPECT_EQ(hex.size(), 2u * NCCL_UNIQUE_ID_BYTES);
  StatusOr<ncclUniqueId> back = NcclUniqueIdFromHex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::memcmp(back->internal, id.internal, sizeof id.internal), 0);
  EXPECT_FALSE(NcclUniqueIdFromHex(hex.substr(1)).ok());
  EXPECT_FALSE(NcclUniqueIdFromHex(std::string(hex.size(), 'z')).ok());
}

class NcclLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (VisibleCudaDevices() < 2) GTEST_SKIP() << "needs two GPUs";
    StatusOr<std::string> id = CreateNcclUniqueIdHex();
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    // Both ranks must join at once: each on its own thread.
    std::thread receiver_side([&] { receiver_comm_ = NcclComm::Init(*id, 2, 1, 1, 60s); });
    sender_comm_ = NcclComm::Init(*id, 2, 0, 0, 60s);
    receiver_side.join();
    ASSERT_TRUE(sender_comm_.ok()) << sender_comm_.status().ToString();
    ASSERT_TRUE(receiver_comm_.ok()) << receiver_comm_.status().ToString();
  }

  StatusOr<std::unique_ptr<NcclComm>> sender_comm_ = Internal("not set up");
  StatusOr<std::unique_ptr<NcclComm>> receiver_comm_ = Internal("not set up");
};

TEST_F(NcclLinkTest, MessagesArriveBitExactAndBadHeadersFailTheLink) {
  LinkOptions options;
  options.timeout = 30s;
  NcclComm& sc = **sender_comm_;
  NcclComm& rc = **receiver_comm_;
  const std::vector<int> shapes = {1, 2048};
  std::vector<std::vector<std::byte>> payloads;
  for (int rows : shapes) {
    std::vector<std::byte> p(static_cast<size_t>(rows) * 8192 * 2);
    std::mt19937_64 rng(rows);
    for (std::byte& b : p) b = static_cast<std::byte>(rng());
    payloads.push_back(std::move(p));
  }

  std::promise<void> quiet_checked;
  std::thread receiver_side([&] {
    STRATA_CUDA_CHECK(cudaSetDevice(1));
    void* device_buffer = nullptr;
    STRATA_CUDA_CHECK(cudaMalloc(&device_buffer, kLimits.max_payload_bytes()));
    cudaStream_t stream;
    STRATA_CUDA_CHECK(cudaStreamCreate(&stream));
    {
      StatusOr<std::unique_ptr<NcclReceiver>> r = NcclReceiver::Create(
          rc, 0, kLimits, options,
          std::span(static_cast<std::byte*>(device_buffer), kLimits.max_payload_bytes()));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      // Nothing sent yet: a quiet link, not a broken one.
      StatusOr<const ReceivedMessage*> quiet = (*r)->Receive(stream, 100ms);
      EXPECT_EQ(quiet.status().code(), StatusCode::kDeadlineExceeded) << quiet.status().ToString();
      quiet_checked.set_value();
      for (size_t i = 0; i < shapes.size(); ++i) {
        StatusOr<const ReceivedMessage*> m = (*r)->Receive(stream, 30s);
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        EXPECT_EQ((*m)->header.rows, shapes[i]);
        std::vector<std::byte> back((*m)->payload.size());
        STRATA_CUDA_CHECK(cudaMemcpyAsync(back.data(), (*m)->payload.data(), back.size(),
                                          cudaMemcpyDeviceToHost, stream));
        STRATA_CUDA_CHECK(cudaStreamSynchronize(stream));
        EXPECT_EQ(back, payloads[i]);
      }
      StatusOr<const ReceivedMessage*> m = (*r)->Receive(stream, 30s);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      EXPECT_EQ((*m)->header.kind, MessageKind::kError);
      EXPECT_EQ((*m)->error_text(), "stage 0 failed");
      // A header outside the limits fails the link for good.
      m = (*r)->Receive(stream, 30s);
      EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument) << m.status().ToString();
      EXPECT_EQ((*r)->Receive(stream, 1s).status().code(), StatusCode::kInvalidArgument);
    }
    cudaStreamDestroy(stream);
    cudaFree(device_buffer);
  });

  STRATA_CUDA_CHECK(cudaSetDevice(0));
  cudaStream_t stream;
  STRATA_CUDA_CHECK(cudaStreamCreate(&stream));
  void* device_payload = nullptr;
  STRATA_CUDA_CHECK(cudaMalloc(&device_payload, 2 * kLimits.max_payload_bytes()));
  {
    StatusOr<std::unique_ptr<NcclSender>> s = NcclSender::Create(sc, 1, kLimits, options);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    quiet_checked.get_future().wait_for(30s);
    for (size_t i = 0; i < shapes.size(); ++i) {
      STRATA_CUDA_CHECK(cudaMemcpy(device_payload, payloads[i].data(), payloads[i].size(),
                                   cudaMemcpyHostToDevice));
      StatusOr<uint64_t> t = (*s)->Send(ActivationsHeader(kLimits, i, {{9, 0, shapes[i]}}),
                                        device_payload, stream);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      ASSERT_TRUE((*s)->WaitSent(*t).ok());
    }
    EXPECT_TRUE((*s)->SendError(3, "stage 0 failed", stream).ok());
    // Sent with wider limits than the receiver agreed to: rows beyond its maximum.
    LinkLimits wider = kLimits;
    wider.max_rows = 4096;
    LinkOptions short_timeout;
    short_timeout.timeout = 2s;  // its payload is never received: its destructor aborts
    StatusOr<std::unique_ptr<NcclSender>> rogue = NcclSender::Create(sc, 1, wider, short_timeout);
    ASSERT_TRUE(rogue.ok());
    EXPECT_TRUE((*rogue)->Send(ActivationsHeader(wider, 4, {{9, 0, 4096}}), device_payload,
                               stream).ok());
    EXPECT_EQ((*s)->stats().messages, 3u);
  }
  receiver_side.join();
  cudaStreamDestroy(stream);
  cudaFree(device_payload);
}

}  // namespace
}  // namespace strata::transport
