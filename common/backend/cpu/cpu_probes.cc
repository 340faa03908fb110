// CpuBackend's benchmark ceilings (see backend.h): host memory read bandwidth with every
// hardware thread summing its share of a buffer, and OpenBLAS sgemm throughput — the CPU
// backend converts every weight dtype to fp32 and multiplies in fp32.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "common/backend/cpu/cpu_backend.h"

namespace strata {
namespace {

// Where the read probe's sums go, so the loads cannot be optimised away.
volatile uint64_t g_probe_sink = 0;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sums `n` words with four independent accumulators (so the loads, not the adds, limit it).
uint64_t SumWords(const uint64_t* words, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += words[i];
    b += words[i + 1];
    c += words[i + 2];
    d += words[i + 3];
  }
  for (; i < n; ++i) a += words[i];
  return a + b + c + d;
}

}  // namespace

StatusOr<double> CpuBackend::ProbeReadGBps(size_t bytes, int iters) {
  if (bytes < 4096 || iters < 1) return InvalidArgument("read probe needs >= 4096 bytes, >= 1 run");
  const size_t n = bytes / sizeof(uint64_t);
  std::vector<uint64_t> words(n);
  for (size_t i = 0; i < n; ++i) words[i] = i * 0x9E3779B97F4A7C15ull;
  const size_t threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  std::vector<uint64_t> sums(threads);
  double best = 0;
  for (int run = 0; run <= iters; ++run) {  // run 0 warms up
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t) {
      const size_t first = n * t / threads, last = n * (t + 1) / threads;
      pool.emplace_back([&, t, first, last] { sums[t] = SumWords(words.data() + first, last - first); });
    }
    for (std::thread& th : pool) th.join();
    const double s = SecondsSince(start);
    if (run > 0) best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s / 1e9);
  }
  uint64_t total = 0;
  for (uint64_t s : sums) total += s;
  g_probe_sink = total;
  return best;
}

StatusOr<double> CpuBackend::ProbeGemmTflops(DType, int64_t m, int64_t n, int64_t k, int iters) {
  if (m < 1 || n < 1 || k < 1 || iters < 1) return InvalidArgument("GEMM probe needs m, n, k, runs >= 1");
  std::vector<float> a(static_cast<size_t>(m * k), 0.5f), b(static_cast<size_t>(n * k), 0.25f),
      c(static_cast<size_t>(m * n));
  double best = 0;
  for (int run = 0; run <= iters; ++run) {
    const auto start = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, a.data(), static_cast<int>(k), b.data(),
                static_cast<int>(k), 0.0f, c.data(), static_cast<int>(n));
    const double s = SecondsSince(start);
    if (run > 0) best = std::max(best, 2.0 * static_cast<double>(m) * n * k / s / 1e12);
  }
  return best;
}

}  // namespace strata
