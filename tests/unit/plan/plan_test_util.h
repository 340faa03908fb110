// Cluster specs for the planner tests: the seed's RTX 5080 layer figures, and a way to
// make workers that differ. Thread-safety: plain functions.
#pragma once

#include "common/plan/cost_model.h"

namespace strata::testing {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;

// seed-measurements.md: one Llama 3.1 70B layer (8-bit) on an RTX 5080.
inline WorkerSpec SeedWorker(size_t gpu_mem = 16 * kGiB, size_t pinned_mem = 48 * kGiB) {
  WorkerSpec w;
  w.name = "seed";
  w.gpu_mem = gpu_mem;
  w.pinned_mem = pinned_mem;
  w.ssd_gbps = 4.45;
  w.h2d_gbps = 41.53;
  w.prefill_ms = 172.92;
  w.prefill_tokens = 2048;
  w.decode_ms = 2.45;
  return w;
}

// The seed's layers only: no ends, no KV cache, no scratch.
inline ModelSpec SeedModel(int32_t layers = 80) {
  ModelSpec m;
  m.layers = layers;
  m.layer_bytes = 844'000'000;
  return m;
}

inline ClusterSpec SeedCluster(size_t workers, int32_t layers = 80) {
  ClusterSpec c;
  c.model = SeedModel(layers);
  for (size_t w = 0; w < workers; ++w) c.workers.push_back(SeedWorker());
  return c;
}

// One layer's extent as a stage holds it: rounded up to the pack's 4 KiB pages.
inline size_t PageRounded(size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

}  // namespace strata::testing
