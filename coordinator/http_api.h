// The OpenAI-compatible HTTP API on cpp-httplib (through HttpServer: keep-alive without
// added latency, pipelining, 408 for a stalled body):
//   POST /v1/completions, POST /v1/chat/completions  (CompletionService; streaming or not)
//   GET  /v1/models    the served model, its aliases, max_model_len
//   GET  /v1/cluster   the cluster's detailed state (workers, stages, links, plan, counters)
//   GET  /health       the process is alive: always 200 while it runs
//   GET  /ready        200 once a plan is assigned and every stage is ready, else 503 + reason
//                      (also while the coordinator drains or a worker is leaving)
// With an API key every /v1/ route needs `Authorization: Bearer KEY` (401 otherwise, the key
// compared in constant time and never echoed); /health and /ready stay open. A known route
// with another method is a 405 with Allow; an unknown route a 404 listing the routes. Every
// error is OpenAI's {"error": {...}}; the server keeps serving after any bad input.
// With TLS material (HttpOptions::tls) the API is served over TLS only, with client
// certificates required when it has a CA.
// Thread-safety: httplib runs handlers on its thread pool; they share only the Cluster
// (thread-safe) and immutable state. Bind and Serve from one thread, Stop from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/cluster/tls_files.h"
#include "coordinator/cluster.h"
#include "coordinator/completion_service.h"
#include "coordinator/http_server.h"
#include "common/loader/model_directory.h"

namespace strata::coordinator {

// The coordinator's flags for the API's TLS files: --http-tls-cert, --http-tls-key, --http-tls-ca.
inline constexpr char kHttpTlsFlag[] = "--http-tls";

struct HttpOptions {
  CompletionLimits completions;
  std::optional<std::string> api_key;  // set: /v1/ routes need it as a bearer token
  // Set: HTTPS only, with cert and key; with a ca, clients must present a certificate it verifies.
  std::optional<cluster::TlsPems> tls;
  int32_t threads = 256;  // connections served at once (each holds a thread while open)
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};  // headers and body
  std::chrono::seconds keep_alive_timeout{30};  // an idle connection is closed after this
};

class HttpApi {
 public:
  // `metrics` counts completion requests refused for their API key (the rest: CompletionService).
  HttpApi(Cluster& cluster, const ModelDirectory& model, HttpOptions options,
          CoordinatorMetrics& metrics);

  // Binds host:port (port 0: any free port) and returns the bound port.
  StatusOr<int> Bind(const std::string& host, int port);
  // Serves until Stop; call after Bind.
  void Serve();
  // Returns once Serve accepts connections (so a Stop that follows is not lost).
  void WaitUntilServing() const;
  void Stop();
  // Waits until every accepted completion is answered to its end or `until` passes; returns
  // how many are still open.
  size_t WaitAllAnswered(std::chrono::steady_clock::time_point until) {
    return completions_.answers().WaitAllAnswered(until);
  }

 private:
  void Route(const std::string& path, const std::string& method, httplib::Server::Handler handler);
  bool Authorized(const httplib::Request& request, httplib::Response& response) const;
  void Ready(httplib::Response& response) const;
  void ClusterStatus(httplib::Response& response) const;
  void Models(httplib::Response& response) const;

  Cluster& cluster_;
  const ModelDirectory& model_;
  const HttpOptions options_;
  CoordinatorMetrics& metrics_;
  const int64_t started_unix_s_;
  CompletionService completions_;
  HttpServer server_;
  std::map<std::string, std::string> allowed_methods_;  // path -> "GET, POST"
};

}  // namespace strata::coordinator
