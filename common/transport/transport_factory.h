// CreateTransport: a Transport by name — the one place that knows every transport a cluster
// can run ("ucx", "nccl"), so the worker chooses the assignment's by name and never includes
// a transport's header. Compiles without CUDA or NCCL headers (library strata_transports,
// which links the NCCL transport only in builds that have it).
// Thread-safety: safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/backend/backend.h"
#include "common/transport/transport.h"

namespace strata::transport {

// How a process makes its links (the worker's flags and the assignment's transport).
struct LinkSettings {
  std::string transport = "ucx";              // "ucx" or "nccl"
  std::string advertised_host = "127.0.0.1";  // ucx: what the previous stage connects to
  std::string bind_host = "127.0.0.1";        // ucx: where a receiver listens
  uint16_t port = 0;                          // ucx: 0 = any free port
  std::string token;  // ucx: the cluster token links present and require (link_hello.h); nccl
                      // links are made through the control plane and need none
  std::chrono::milliseconds timeout{10000};   // connecting, joining, a send's completion
};

// Links on `backend` (which outlives the transport; nccl: its GPU). Errors: an unknown
// transport or one this build lacks (kUnimplemented, naming what to use), the transport's
// own (nccl on a backend without a GPU).
StatusOr<std::unique_ptr<Transport>> CreateTransport(Backend& backend,
                                                     const LinkSettings& settings);

}  // namespace strata::transport
