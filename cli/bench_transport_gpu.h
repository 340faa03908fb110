// `strata bench-transport` between two GPUs: the hop a GPU worker's activations take.
//   nccl:       NCCL send/recv from device memory on GPU a to device memory on GPU b.
//   ucx-staged: what a ucx worker does — copy to pinned host memory on a, UCX (over 127.0.0.1
//               with whatever UCX_TLS selects), copy from pinned host memory to b.
// Ping-pong between two threads (one per GPU), one-way = round trip / 2. The ceiling measured
// in the same run: a direct GPU-to-GPU copy (cudaMemcpyPeer, peer access enabled where the
// GPUs allow it) of the same bytes. Built only with CUDA and NCCL (STRATA_HAVE_NCCL).
// Thread-safety: RunGpuHop is self-contained; one call at a time per pair of GPUs.
#pragma once

#include <string>
#include <vector>

#include "common/transport/message.h"
#include "common/util/status.h"

namespace strata::cli {

struct GpuHopOptions {
  std::string transport;  // "nccl" or "ucx-staged"
  int rows = 1;
  int cols = 8192;
  transport::ActivationDtype dtype = transport::ActivationDtype::kBF16;
  int iters = 100;
  int warmup = 10;
  int device_a = 0;
  int device_b = 1;
};

struct GpuHopResult {
  std::vector<double> one_way_us;  // one per timed round trip
  double peer_copy_us = 0;         // cudaMemcpyPeer a -> b of the same bytes, mean
  bool peer_access = false;        // the copy went directly GPU to GPU
  bool verified = false;           // the payload came back bit-exact
};

// Errors: fewer than two GPUs, the transport's, a build without NCCL (kUnimplemented).
StatusOr<GpuHopResult> RunGpuHop(const GpuHopOptions& options);

}  // namespace strata::cli
