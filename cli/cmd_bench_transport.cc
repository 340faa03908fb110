// `strata bench-transport`: the data plane's one-way latency per hop. A sender and a receiver
// endpoint run in this process on two threads, linked both ways; one thread sends a message,
// the other echoes it back, and one-way = round trip / 2. Host to host (loopback, or UCX over
// 127.0.0.1 with whatever UCX_TLS selects; ceiling: a memcpy of the same bytes) or GPU to GPU
// (nccl, or ucx-staged through pinned memory as a ucx worker does; ceiling: a direct
// GPU-to-GPU copy of the same bytes), each ceiling measured in the same run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#if STRATA_HAVE_NCCL
#include "cli/bench_transport_gpu.h"
#endif
#include "common/transport/local_link.h"
#include "common/transport/loopback/loopback_transport.h"
#include "common/transport/ucx/ucx_transport.h"
#include "common/util/secret.h"

namespace strata::cli {
namespace {

using namespace strata::transport;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string transport = "ucx";
  int rows = 0;  // 0: the two reported shapes
  int device_a = 0;  // GPU transports: the two GPUs
  int device_b = 1;
  int cols = 8192;
  std::string dtype = "bf16";
  int iters = 100;
  int warmup = 10;
  bool json = false;
};

struct Summary {
  double mean = 0, min = 0, max = 0, std = 0, p50 = 0, p99 = 0;  // microseconds
};

Summary Summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  Summary s;
  double sum = 0;
  for (double v : us) sum += v;
  s.mean = sum / static_cast<double>(us.size());
  double var = 0;
  for (double v : us) var += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(var / static_cast<double>(us.size()));
  s.min = us.front();
  s.max = us.back();
  // Nearest-rank percentiles.
  const auto rank = [&](double p) {
    const size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(us.size())));
    return us[std::max<size_t>(k, 1) - 1];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  return s;
}

// The host transport under test; both directions of the ping-pong are its links (so they
// share its one-off token).
std::unique_ptr<Transport> MakeHostTransport(const std::string& transport) {
  LinkOptions options;
  options.timeout = std::chrono::seconds(30);
  if (transport == "loopback") return CreateLoopbackTransport(options);
  return CreateUcxTransport({"127.0.0.1", 0, "127.0.0.1", RandomSecret()}, options);
}

struct ShapeResult {
  int rows = 0;
  size_t bytes = 0;
  Summary one_way;
  double ceiling_us = 0;  // the same bytes copied directly (memcpy, or GPU to GPU)
  bool verified = false;
};

bool IsGpuTransport(const std::string& t) { return t == "nccl" || t == "ucx-staged"; }

StatusOr<ShapeResult> RunGpuShape(const Flags& f, ActivationDtype dtype, int rows) {
#if STRATA_HAVE_NCCL
  GpuHopOptions o;
  o.transport = f.transport;
  o.rows = rows;
  o.cols = f.cols;
  o.dtype = dtype;
  o.iters = f.iters;
  o.warmup = f.warmup;
  o.device_a = f.device_a;
  o.device_b = f.device_b;
  STRATA_ASSIGN_OR_RETURN(GpuHopResult g, RunGpuHop(o));
  ShapeResult r;
  r.rows = rows;
  r.bytes = static_cast<size_t>(rows) * static_cast<size_t>(f.cols) * DtypeBytes(dtype);
  r.one_way = Summarize(std::move(g.one_way_us));
  r.ceiling_us = g.peer_copy_us;
  r.verified = g.verified;
  return r;
#else
  (void)dtype;
  (void)rows;
  return Unimplemented("--transport " + f.transport +
                       " needs a build with CUDA and NCCL; this one has neither");
#endif
}

StatusOr<ShapeResult> RunShape(const Flags& f, ActivationDtype dtype, int rows) {
  const LinkLimits limits{rows, f.cols, dtype, 1};
  const size_t bytes = static_cast<size_t>(rows) * static_cast<size_t>(f.cols) * DtypeBytes(dtype);
  std::vector<std::byte> payload(bytes);  // (rows, cols) random activations
  std::mt19937_64 rng(42);
  for (std::byte& b : payload) b = static_cast<std::byte>(rng());
  std::vector<std::byte> forward_buffer(limits.max_payload_bytes());
  std::vector<std::byte> back_buffer(limits.max_payload_bytes());
  const std::unique_ptr<Transport> transport = MakeHostTransport(f.transport);
  STRATA_ASSIGN_OR_RETURN(LocalLink forward,
                          ConnectLocalLink(*transport, *transport, limits, forward_buffer));
  STRATA_ASSIGN_OR_RETURN(LocalLink back,
                          ConnectLocalLink(*transport, *transport, limits, back_buffer));
  const auto timeout = std::chrono::seconds(30);
  const int total = f.warmup + f.iters;

  Status echo_status;
  std::thread echo([&] {
    for (int i = 0; i < total && echo_status.ok(); ++i) {
      StatusOr<const ReceivedMessage*> m = forward.receiver->Receive(timeout);
      if (!m.ok()) {
        echo_status = m.status();
        break;
      }
      StatusOr<uint64_t> t = back.sender->Send((*m)->header, (*m)->payload.data());
      echo_status = t.ok() ? back.sender->WaitSent(*t) : t.status();
    }
  });

  const MessageHeader header = ActivationsHeader(limits, 0, {{7, 0, rows}});
  std::vector<double> one_way_us;
  Status status;
  const ReceivedMessage* last = nullptr;
  for (int i = 0; i < total && status.ok(); ++i) {
    const Clock::time_point t0 = Clock::now();
    StatusOr<uint64_t> ticket = forward.sender->Send(header, payload.data());
    if (!ticket.ok()) {
      status = ticket.status();
      break;
    }
    StatusOr<const ReceivedMessage*> m = back.receiver->Receive(timeout);
    const Clock::time_point t1 = Clock::now();
    if (!m.ok()) {
      status = m.status();
      break;
    }
    last = *m;
    status = forward.sender->WaitSent(*ticket);
    if (i >= f.warmup) {
      one_way_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 2);
    }
  }
  echo.join();
  STRATA_RETURN_IF_ERROR(status);
  STRATA_RETURN_IF_ERROR(echo_status);

  ShapeResult r;
  r.rows = rows;
  r.bytes = bytes;
  r.one_way = Summarize(std::move(one_way_us));
  r.verified = last != nullptr && last->payload.size() == bytes &&
               std::memcmp(last->payload.data(), payload.data(), bytes) == 0;
  // The ceiling: the same bytes copied once in host memory (destination already touched).
  std::vector<std::byte> copy(bytes, std::byte{1});
  const Clock::time_point c0 = Clock::now();
  for (int i = 0; i < f.iters; ++i) {
    std::memcpy(copy.data(), payload.data(), bytes);
    payload[static_cast<size_t>(i) % bytes] = copy[bytes - 1];  // keeps each copy live
  }
  r.ceiling_us = std::chrono::duration<double, std::micro>(Clock::now() - c0).count() / f.iters;
  return r;
}

double GBps(size_t bytes, double us) { return us > 0 ? static_cast<double>(bytes) / us / 1e3 : 0; }

Status Run(const Flags& f) {
  if (f.transport != "ucx" && f.transport != "loopback" && !IsGpuTransport(f.transport)) {
    return InvalidArgument("--transport must be loopback, ucx, nccl or ucx-staged, not '" +
                           f.transport + "'");
  }
  if (f.dtype != "bf16" && f.dtype != "fp32") {
    return InvalidArgument("--dtype must be bf16 or fp32, not '" + f.dtype + "'");
  }
  if (f.iters < 1 || f.warmup < 0 || f.rows < 0 || f.cols < 1) {
    return InvalidArgument("--iters and --cols must be positive, --rows and --warmup not negative");
  }
  const ActivationDtype dtype = f.dtype == "fp32" ? ActivationDtype::kF32 : ActivationDtype::kBF16;
  const std::vector<int> shapes = f.rows > 0 ? std::vector<int>{f.rows} : std::vector<int>{1, 2048};
  const char* tls_env = std::getenv("UCX_TLS");
  const std::string tls = tls_env != nullptr ? tls_env : "all (UCX default)";
  std::string note;
  if (f.transport == "loopback") {
    note = "loopback copies the payload once into the receive buffer: the memcpy is its ceiling";
  } else if (f.transport == "ucx") {
    note = "UCX in one process over 127.0.0.1 (UCX_TLS=" + tls +
           "); over tcp each byte passes the kernel socket stack (a copy in, a copy out), so the "
           "memcpy is a bound tcp cannot reach; between nodes the NIC line rate is the ceiling. "
           "A waiting Send or Receive progresses UCX itself briefly before it sleeps, so this "
           "ping-pong pays no thread wake-up; a stage that waits longer pays one";
  } else if (f.transport == "nccl") {
    note = "NCCL send/recv from GPU " + std::to_string(f.device_a) + " to GPU " +
           std::to_string(f.device_b) + " (device memory both ends, a header message then the "
           "payload); ceiling: cudaMemcpyPeer of the same bytes";
  } else {
    note = "GPU " + std::to_string(f.device_a) + " -> pinned host -> UCX over 127.0.0.1 (UCX_TLS=" +
           tls + ") -> pinned host -> GPU " + std::to_string(f.device_b) +
           ", as a ucx worker moves activations; ceiling: cudaMemcpyPeer of the same bytes";
  }
  const char* ceiling = IsGpuTransport(f.transport) ? "peer copy" : "memcpy";

  nlohmann::json results = nlohmann::json::array();
  if (!f.json) {
    std::printf("bench-transport: %s, %d iterations after %d warm-up; one-way = round trip / 2\n"
                "  %s\n",
                f.transport.c_str(), f.iters, f.warmup, note.c_str());
  }
  for (int rows : shapes) {
    STRATA_ASSIGN_OR_RETURN(const ShapeResult r, IsGpuTransport(f.transport)
                                                     ? RunGpuShape(f, dtype, rows)
                                                     : RunShape(f, dtype, rows));
    const Summary& s = r.one_way;
    if (f.json) {
      results.push_back({{"rows", r.rows},
                         {"cols", f.cols},
                         {"dtype", f.dtype},
                         {"bytes", r.bytes},
                         {"one_way_us",
                          {{"mean", s.mean}, {"min", s.min}, {"max", s.max}, {"std", s.std},
                           {"p50", s.p50}, {"p99", s.p99}}},
                         {"gb_per_s", GBps(r.bytes, s.mean)},
                         {"ceiling",
                          {{"what", ceiling},
                           {"us", r.ceiling_us},
                           {"gb_per_s", GBps(r.bytes, r.ceiling_us)}}},
                         {"fraction_of_ceiling", r.ceiling_us / s.mean},
                         {"verified", r.verified}});
    } else {
      std::printf("%5d x %d %s (%zu bytes): one-way mean %.1f us, min %.1f, p50 %.1f, p99 %.1f, "
                  "max %.1f, std %.1f -> %.2f GB/s; %s %.1f us (%.2f GB/s), ratio %.3f%s\n",
                  r.rows, f.cols, f.dtype.c_str(), r.bytes, s.mean, s.min, s.p50, s.p99, s.max,
                  s.std, GBps(r.bytes, s.mean), ceiling, r.ceiling_us, GBps(r.bytes, r.ceiling_us),
                  r.ceiling_us / s.mean, r.verified ? "" : "  PAYLOAD MISMATCH");
    }
    if (!r.verified) return Internal("the echoed payload differs from the one sent");
  }
  if (f.json) {
    const nlohmann::json out = {{"transport", f.transport}, {"ucx_tls", tls},
                                {"iters", f.iters},         {"warmup", f.warmup},
                                {"ceiling_note", note},     {"results", results}};
    std::printf("%s\n", out.dump(2).c_str());
  }
  return OkStatus();
}

}  // namespace

void AddBenchTransportCommand(CLI::App& app, CommandRunner& run) {
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "bench-transport", "One-way per-hop latency of the activation transport (ping-pong / 2)");
  cmd->add_option("--transport", flags->transport,
                  "loopback or ucx (host to host); nccl or ucx-staged (GPU to GPU)")
      ->capture_default_str();
  cmd->add_option("--device-a", flags->device_a, "GPU transports: the sending GPU")
      ->capture_default_str();
  cmd->add_option("--device-b", flags->device_b, "GPU transports: the echoing GPU")
      ->capture_default_str();
  cmd->add_option("--rows", flags->rows,
                  "Tokens per message (default: 1 and 2048, a decode step and a prefill chunk)");
  cmd->add_option("--cols", flags->cols, "Hidden size")->capture_default_str();
  cmd->add_option("--dtype", flags->dtype, "bf16 or fp32")->capture_default_str();
  cmd->add_option("--iters", flags->iters, "Timed round trips per shape")->capture_default_str();
  cmd->add_option("--warmup", flags->warmup, "Untimed round trips first")->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print the results as JSON");
  cmd->callback([flags, &run] { run = [flags] { return Run(*flags); }; });
}

}  // namespace strata::cli
