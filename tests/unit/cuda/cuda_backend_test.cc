// CudaBackend against the CPU reference for everything but MatMul and attention (their own
// files): the factory, capabilities, memory, copies and events, and the elementwise and
// batch-indexed ops on Llama 3.1 70B widths. Needs a GPU: labelled `gpu`.
#include <cstring>

#include <gtest/gtest.h>

#include "common/backend/cpu/cpu_backend.h"
#include "tests/unit/cuda/cuda_test_util.h"

namespace strata::testing {
namespace {

constexpr int64_t kHidden = 8192;

// Three sequences in one batch: a 5-token prefill chunk, a decode token, a 3-token chunk.
BatchLayout ThreeSequenceBatch(int32_t vocab) {
  BatchLayout batch;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  const int32_t slots[] = {2, 0, 1}, starts[] = {0, 41, 300}, counts[] = {5, 1, 3};
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> ids(static_cast<size_t>(counts[i]));
    for (int32_t& t : ids) t = id(rng);
    batch.Add(slots[i], starts[i], ids.data(), counts[i]);
  }
  return batch;
}

TEST(CudaBackend, FactoryAndCapabilities) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  const BackendCaps& caps = gpu->caps();
  std::printf("backend: %s, %.1f GiB, fp8_weights=%d\n", caps.name.c_str(),
              static_cast<double>(caps.memory_bytes) / (1 << 30), caps.fp8_weights);
  EXPECT_EQ(caps.name.rfind("cuda:0 (", 0), 0u) << caps.name;
  EXPECT_TRUE(caps.async_copy && caps.pinned_host);
  EXPECT_GT(caps.memory_bytes, size_t{1} << 30);
  EXPECT_EQ(caps.device_id.size(), 32u) << caps.device_id;  // the GPU's UUID
  EXPECT_EQ(caps.device_id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_TRUE(CpuBackend().caps().device_id.empty());

  StatusOr<std::unique_ptr<Backend>> missing = CreateBackend("cuda:999");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("device"), std::string::npos)
      << missing.status().message();
  EXPECT_EQ(CreateBackend("cuda:x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateBackend("tpu").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CreateBackend("cpu").ok());
  EXPECT_EQ(CreateBackend("cpu", BackendOptions{.fp8_activations = true}).status().code(),
            StatusCode::kInvalidArgument);
  StatusOr<std::unique_ptr<Backend>> w8a8 =
      CreateBackend("cuda", BackendOptions{.fp8_activations = true});
  ASSERT_TRUE(w8a8.ok()) << w8a8.status().ToString();
  EXPECT_NE((*w8a8)->caps().name.find("fp8 prefill W8A8"), std::string::npos)
      << (*w8a8)->caps().name;
}

TEST(CudaBackend, AllocationFailureIsAStatus) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  StatusOr<DeviceBuffer> huge = gpu->Allocate(size_t{1} << 50);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("free"), std::string::npos) << huge.status().message();
  std::printf("%s\n", huge.status().ToString().c_str());
  EXPECT_TRUE(gpu->Allocate(1 << 20).ok());  // the device still works
}

TEST(CudaBackend, AsyncCopyOnTheCopyStreamWithEvents) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  constexpr size_t kBytes = size_t{64} << 20;
  StatusOr<DeviceBuffer> pinned = gpu->AllocatePinned(kBytes);
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  for (size_t i = 0; i < kBytes; ++i) pinned->get()[i] = static_cast<std::byte>(i * 131 % 251);
  StatusOr<DeviceBuffer> dev = gpu->Allocate(kBytes);
  ASSERT_TRUE(dev.ok());
  auto start = gpu->CreateEvent(), end = gpu->CreateEvent();
  gpu->RecordEvent(*start, Stream::kCopy);
  gpu->CopyToDeviceAsync(dev->get(), pinned->get(), kBytes, Stream::kCopy);
  gpu->RecordEvent(*end, Stream::kCopy);
  gpu->StreamWaitEvent(Stream::kCompute, *end);
  std::vector<std::byte> back(kBytes);
  gpu->CopyToHost(back.data(), dev->get(), kBytes);  // on the compute stream, after the wait
  EXPECT_EQ(std::memcmp(back.data(), pinned->get(), kBytes), 0);
  gpu->WaitEvent(*end);
  EXPECT_TRUE(gpu->EventDone(*end));
  const float ms = gpu->ElapsedMs(*start, *end);
  EXPECT_GT(ms, 0.0f);
  std::printf("pinned -> device: %.1f MiB in %.3f ms = %.1f GB/s\n", kBytes / 1048576.0, ms,
              kBytes / (ms * 1e6));
}

// A stream of the caller's (a link's) is ordered with the backend's own by events; the CPU's
// has no queue: its work has run when it is issued.
TEST(CudaBackend, StreamsOfItsOwnAreOrderedByEvents) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  constexpr size_t kBytes = 8 << 20;
  StatusOr<DeviceBuffer> pinned = gpu->AllocatePinned(kBytes);
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  for (size_t i = 0; i < kBytes; ++i) pinned->get()[i] = static_cast<std::byte>(i * 7 % 253);
  StatusOr<DeviceBuffer> dev = gpu->Allocate(kBytes);
  ASSERT_TRUE(dev.ok());
  const std::unique_ptr<BackendStream> stream = gpu->CreateStream();
  ASSERT_NE(stream->native(), nullptr);
  auto copied = gpu->CreateEvent(), passed = gpu->CreateEvent();
  gpu->CopyToDeviceAsync(dev->get(), pinned->get(), kBytes, Stream::kCopy);
  gpu->RecordEvent(*copied, Stream::kCopy);
  stream->Wait(*copied);    // the stream's work follows the copy,
  stream->Record(*passed);  // and the compute stream follows the stream's
  gpu->StreamWaitEvent(Stream::kCompute, *passed);
  std::vector<std::byte> back(kBytes);
  gpu->CopyToHost(back.data(), dev->get(), kBytes);
  EXPECT_EQ(std::memcmp(back.data(), pinned->get(), kBytes), 0);
  gpu->WaitEvent(*passed);
  EXPECT_TRUE(gpu->EventDone(*passed));

  CpuBackend cpu;
  const std::unique_ptr<BackendStream> none = cpu.CreateStream();
  EXPECT_EQ(none->native(), nullptr);
  auto event = cpu.CreateEvent();
  none->Wait(*event);
  none->Record(*event);
  EXPECT_TRUE(cpu.EventDone(*event));
}

TEST(CudaBackend, EmbedMatchesCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  constexpr int64_t kVocab = 1000;
  const BatchLayout batch = ThreeSequenceBatch(kVocab);
  const int64_t t = batch.n_tokens();
  const std::vector<float> table = RandomFloats(kVocab * kHidden, 1, 0.05f);
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3}) {
    auto w = MakeWeight(*gpu, table, kVocab, kHidden, dtype);
    MirroredF32 out(*gpu, std::vector<float>(t * kHidden), t, kHidden);
    cpu.BeginBatch(batch);
    gpu->BeginBatch(batch);
    gpu->Embed(w->dev_view, out.gpu());
    std::vector<float> want(static_cast<size_t>(t * kHidden));
    if (dtype == DType::kF8E4M3) {
      // The expected rows are computed here: the real value is fp8 * its row's scale.
      for (int64_t i = 0; i < t; ++i) {
        const int32_t id = batch.tokens[static_cast<size_t>(i)];
        for (int64_t c = 0; c < kHidden; ++c) {
          want[i * kHidden + c] =
              F8E4M3ToFloat(static_cast<uint8_t>(w->bytes[id * kHidden + c])) * w->scales[id];
        }
      }
    } else {
      cpu.Embed(w->host_view, out.cpu());
      want = out.host;
    }
    ExpectClose(Download(*gpu, out.gpu()), want, kHidden, 1e-6,
                std::string("Embed ") + std::string(DTypeName(dtype)));
  }
}

TEST(CudaBackend, RmsNormMatchesCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  constexpr int64_t kRows = 5;
  const std::vector<float> x = RandomFloats(kRows * kHidden, 2, 3.0f);
  const std::vector<float> w = RandomFloats(kHidden, 3);
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    auto weight = MakeWeight(*gpu, w, 1, kHidden, dtype);
    MirroredF32 in(*gpu, x, kRows, kHidden),
        out(*gpu, std::vector<float>(x.size()), kRows, kHidden);
    cpu.RmsNorm(in.cpu(), weight->host_view, 1e-5f, out.cpu());
    gpu->RmsNorm(in.gpu(), weight->dev_view, 1e-5f, out.gpu());
    ExpectClose(Download(*gpu, out.gpu()), out.host, kHidden, 1e-5,
                std::string("RmsNorm ") + std::string(DTypeName(dtype)));
    // In place (out aliases x), as the engine's final norm runs.
    gpu->RmsNorm(in.gpu(), weight->dev_view, 1e-5f, in.gpu());
    ExpectClose(Download(*gpu, in.gpu()), out.host, kHidden, 1e-5, "RmsNorm in place");
  }
}

TEST(CudaBackend, RopeSwiGluAddAndGatherMatchCpu) {
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  const BatchLayout batch = ThreeSequenceBatch(128256);
  const int64_t t = batch.n_tokens();
  cpu.BeginBatch(batch);
  gpu->BeginBatch(batch);

  constexpr int64_t kHeads = 64, kHeadDim = 128;
  std::vector<float> freq(kHeadDim / 2);
  for (int64_t i = 0; i < kHeadDim / 2; ++i) {
    freq[i] = static_cast<float>(std::pow(500000.0, -2.0 * i / kHeadDim));
  }
  MirroredF32 inv_freq(*gpu, freq, 1, kHeadDim / 2);
  MirroredF32 q(*gpu, RandomFloats(t * kHeads * kHeadDim, 4), t, kHeads * kHeadDim);
  cpu.Rope(q.cpu(), kHeadDim, inv_freq.cpu());
  gpu->Rope(q.gpu(), kHeadDim, inv_freq.gpu());
  ExpectClose(Download(*gpu, q.gpu()), q.host, kHeads * kHeadDim, 1e-5, "Rope");

  constexpr int64_t kMlp = 28672;
  MirroredF32 gate(*gpu, RandomFloats(t * kMlp, 5, 4.0f), t, kMlp);
  MirroredF32 up(*gpu, RandomFloats(t * kMlp, 6), t, kMlp);
  cpu.SwiGlu(gate.cpu(), up.cpu(), gate.cpu());
  gpu->SwiGlu(gate.gpu(), up.gpu(), gate.gpu());
  ExpectClose(Download(*gpu, gate.gpu()), gate.host, kMlp, 1e-6, "SwiGlu");

  MirroredF32 x(*gpu, RandomFloats(t * kHidden, 7), t, kHidden);
  MirroredF32 y(*gpu, RandomFloats(t * kHidden, 8), t, kHidden);
  cpu.AddInPlace(x.cpu(), y.cpu());
  gpu->AddInPlace(x.gpu(), y.gpu());
  ExpectClose(Download(*gpu, x.gpu()), x.host, kHidden, 1e-6, "AddInPlace");

  const int64_t seqs = static_cast<int64_t>(batch.seqs.size());
  MirroredF32 last(*gpu, std::vector<float>(seqs * kHidden), seqs, kHidden);
  cpu.GatherLastTokens(x.cpu(), last.cpu());
  gpu->GatherLastTokens(x.gpu(), last.gpu());
  ExpectClose(Download(*gpu, last.gpu()), last.host, kHidden, 1e-12, "GatherLastTokens");
}

TEST(CudaBackend, BatchTablesGrowAndShrink) {
  // A larger batch after a small one (the tables grow), then a small one again.
  auto gpu = MakeCudaBackend();
  ASSERT_NE(gpu, nullptr);
  CpuBackend cpu;
  const std::vector<float> table = RandomFloats(64 * 256, 9);
  auto w = MakeWeight(*gpu, table, 64, 256, DType::kBF16);
  for (int32_t n : {3, 5000, 2}) {
    BatchLayout batch;
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = (i * 37) % 64;
    batch.Add(0, 0, ids.data(), n);
    MirroredF32 out(*gpu, std::vector<float>(static_cast<size_t>(n) * 256), n, 256);
    cpu.BeginBatch(batch);
    gpu->BeginBatch(batch);
    cpu.Embed(w->host_view, out.cpu());
    gpu->Embed(w->dev_view, out.gpu());
    ExpectClose(Download(*gpu, out.gpu()), out.host, 256, 1e-6,
                "Embed of a " + std::to_string(n) + "-token batch");
  }
}

}  // namespace
}  // namespace strata::testing
