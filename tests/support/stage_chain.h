// A check shared by the CPU and CUDA suites: two pipeline stages [0, 2) and [2, 6) of a pack
// of the tiny fixture, chained through activations in `memory`, reproduce the whole model's
// logits bit for bit over a prompt and decode steps — what a two-worker cluster relies on
// (device memory: the NCCL links' path, activations never leaving the GPU) — and the last
// stage's greedy ids found on the backend are the argmax of those logits.
// Thread-safety: drives `backend` from the calling thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/engine/pack_model.h"
#include "tests/support/layer_homes.h"

namespace strata::testing {

inline void ExpectChainedStagesGiveTheWholeModelsLogits(Backend& backend, ActivationMemory memory,
                                                        const std::string& pack_dir) {
  auto open = [&](int32_t first, int32_t count) {
    PackModelOptions o = AllOnGpu(first, count);
    o.engine.max_batch_tokens = 16;
    o.engine.max_seq_len = 16;
    StatusOr<std::unique_ptr<PackModel>> m = PackModel::Open(backend, pack_dir, o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  };
  std::unique_ptr<PackModel> whole = open(0, 6), a = open(0, 2), b = open(2, 4);
  ASSERT_TRUE(whole && a && b);
  const auto hidden_size = static_cast<size_t>(whole->model().config().hidden_size);
  // (16, hidden) fp32 activations between the stages, where `memory` says.
  std::vector<float> host_hidden(16 * hidden_size);
  DeviceBuffer device_hidden;
  float* hidden = host_hidden.data();
  if (memory == ActivationMemory::kDevice) {
    StatusOr<DeviceBuffer> buffer = backend.Allocate(host_hidden.size() * sizeof(float));
    ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
    device_hidden = std::move(buffer).value();
    hidden = reinterpret_cast<float*>(device_hidden.get());
  }
  const int32_t sw = *whole->model().kv_cache().Acquire();
  const int32_t sa = *a->model().kv_cache().Acquire();
  const int32_t sb = *b->model().kv_cache().Acquire();
  std::vector<int32_t> step = {128000, 791, 6864, 315, 9822, 374};
  int32_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    BatchLayout bw, ba, bb;
    const auto n = static_cast<int32_t>(step.size());
    bw.Add(sw, pos, step.data(), n);
    ba.Add(sa, pos, step.data(), n);
    bb.Add(sb, pos, step.data(), n);
    std::vector<float> want, got;
    std::vector<int32_t> greedy;
    ASSERT_TRUE(whole->model().Forward(bw, LogitsMode::kLastToken, &want).ok());
    ASSERT_TRUE(
        a->model().ForwardStage(ba, {}, hidden, LogitsMode::kLastToken, nullptr, memory).ok());
    const std::span<const float> in(hidden, step.size() * hidden_size);
    ASSERT_TRUE(b->model()
                    .ForwardStage(bb, in, nullptr, LogitsMode::kLastToken, &got, memory, &greedy)
                    .ok());
    ASSERT_EQ(got, want) << "step " << i;
    // The argmax found on the backend is the host's argmax of the same logits.
    ASSERT_EQ(greedy.size(), 1u);
    EXPECT_EQ(greedy[0], std::max_element(got.begin(), got.end()) - got.begin()) << "step " << i;
    pos += n;
    step = {static_cast<int32_t>(std::max_element(want.begin(), want.end()) - want.begin())};
  }
}

}  // namespace strata::testing
