// MetricsServer and the shared buckets (see metrics_server.h).
#include "common/metrics/metrics_server.h"

#include <exception>

namespace strata::metrics {

namespace {

// `first`, first * factor, ... `count` values.
std::vector<double> Exponential(double first, double factor, int count) {
  std::vector<double> bounds;
  double v = first;
  for (int i = 0; i < count; ++i, v *= factor) bounds.push_back(v);
  return bounds;
}

}  // namespace

const std::vector<double>& LayerStageBuckets() {
  static const std::vector<double> b = Exponential(1e-5, 2.0, 19);  // 10 µs .. 2.6 s
  return b;
}

const std::vector<double>& RequestBuckets() {
  static const std::vector<double> b = Exponential(5e-3, 2.0, 18);  // 5 ms .. 655 s
  return b;
}

const std::vector<double>& StepBuckets() {
  static const std::vector<double> b = Exponential(1e-3, 2.0, 17);  // 1 ms .. 65 s
  return b;
}

StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                               const std::string& flag) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgument(flag + " " + address +
                           ": give HOST:PORT such as 0.0.0.0:9100 (port 0 picks a free one)");
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->registry_ = std::make_shared<prometheus::Registry>();
  try {
    // civetweb takes "HOST:PORT" (IPv6 as "[::1]:PORT"); port 0 binds any free port.
    server->exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return Unavailable("could not serve metrics on " + address + " (" + e.what() +
                       "); is the port in use? Pick another " + flag);
  }
  server->exposer_->RegisterCollectable(server->registry_);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) return Unavailable("metrics on " + address + " listen on no port");
  server->port_ = ports.front();
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  server->host_ = host;
  return server;
}

MetricsServer::~MetricsServer() = default;

}  // namespace strata::metrics
