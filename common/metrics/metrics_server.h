// A process's Prometheus endpoint: one registry whose families the process creates once at
// start-up, served in the text format at GET /metrics on --metrics-address by a cpp-httplib
// server on its own thread (prometheus-cpp's TextSerializer). Not prometheus-cpp's pull
// exposer: civetweb (Debian's build) starts its threads with 100 KiB stacks, which glibc
// refuses (EINVAL) in a process whose static TLS is larger — the worker's is ~170 KiB
// (cuBLASLt 92 KiB, OpenBLAS 60 KiB, NCCL 12 KiB). Metric handles (prometheus::Counter&,
// Gauge&, Histogram&) stay valid for the registry's life: hot paths only add or observe.
// Naming follows Prometheus's guide: `strata_` prefix, base units (`_seconds`, `_bytes`,
// `_total`), labels of bounded cardinality.
// Thread-safety: registry() and the metrics are thread-safe (prometheus-cpp); Start once.
// Scrapes run on the server's threads.
#pragma once

#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/util/status.h"

namespace httplib {
class Server;
}

namespace strata::metrics {

// Histogram buckets, in seconds, shared so dashboards can rely on them.
// A layer's stage in one pass: 10 µs .. 5 s.
const std::vector<double>& LayerStageBuckets();
// A request's latencies (time to first token, end to end, queue): 5 ms .. 10 min.
const std::vector<double>& RequestBuckets();
// Between two tokens of a stream, and a whole pipeline pass: 1 ms .. 60 s.
const std::vector<double>& StepBuckets();

class MetricsServer {
 public:
  // Listens on "HOST:PORT" (port 0: any free port; "[::1]:9100" for IPv6). An address in
  // use or not local is kUnavailable naming the flag.
  static StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                         const std::string& flag);
  ~MetricsServer();

  prometheus::Registry& registry() { return *registry_; }
  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  MetricsServer() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;  // http_'s accept loop
  std::string host_;
  int port_ = 0;
};

}  // namespace strata::metrics
