// MetricsServer and the shared buckets (see metrics_server.h).
#include "common/metrics/metrics_server.h"

#include <httplib.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

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
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port_text = address.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    return InvalidArgument(flag + " " + address + ": the port must be a number from 0 to 65535");
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->registry_ = std::make_shared<prometheus::Registry>();
  server->http_ = std::make_unique<httplib::Server>();
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second process bind the
  // port and quietly take half the scrapes instead of failing here.
  server->http_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  prometheus::Registry* registry = server->registry_.get();
  server->http_->Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus::TextSerializer().Serialize(registry->Collect()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  const int bound = port == 0 ? server->http_->bind_to_any_port(host)
                              : (server->http_->bind_to_port(host, static_cast<int>(port))
                                     ? static_cast<int>(port)
                                     : -1);
  if (bound <= 0) {
    return Unavailable("could not serve metrics on " + address +
                       "; is the port in use? Pick another " + flag);
  }
  server->port_ = bound;
  server->host_ = host;
  httplib::Server* http = server->http_.get();
  auto listening_ended = std::make_shared<std::atomic<bool>>(false);
  server->thread_ = std::thread([http, listening_ended] {
    http->listen_after_bind();
    *listening_ended = true;
  });
  // httplib's stop() before its accept loop has started is lost (the destructor's join would
  // then wait forever): return once it runs.
  while (!http->is_running() && !*listening_ended) std::this_thread::yield();
  return server;
}

MetricsServer::~MetricsServer() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace strata::metrics
