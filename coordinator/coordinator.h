// strata-coordinator assembled: the model, the Cluster, the gRPC control server and the
// HTTP API, started and stopped together. main.cc and the tests build one of these. It stops
// at once (Shutdown) or after a drain (Drain: what was accepted finishes first).
// Thread-safety: Start, then the accessors from any thread; Drain and Shutdown from any
// thread (the destructor cuts a drain short and shuts down).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/cluster/tls_files.h"
#include "common/metrics/metrics_server.h"
#include "coordinator/cluster.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/control_service.h"
#include "coordinator/http_api.h"
#include "common/loader/model_directory.h"

namespace strata::coordinator {

struct CoordinatorConfig {
  std::string http_address = "127.0.0.1:8000";   // HOST:PORT; port 0 picks one
  // The coordinator's cluster address (what workers are given as --coordinator); HOST:PORT,
  // port 0 picks one.
  std::string control_address = "127.0.0.1:7070";
  std::string metrics_address = "127.0.0.1:9400";  // GET /metrics; HOST:PORT, port 0 picks one
  std::string cluster_token;
  // TLS (tls_files.h) on the control plane; with a ca, workers must present a certificate it
  // verifies (mutual TLS). None: plain text.
  std::optional<cluster::TlsPems> control_tls;
  // Replaces the model's served names (the first is the name, the rest aliases).
  std::vector<std::string> served_model_names;
  ClusterOptions cluster;
  // The API's options; http.completions.max_seq_len is taken from cluster.max_seq_len.
  HttpOptions http;
  // A control stream that sends no Registration within this is closed.
  std::chrono::milliseconds registration_timeout{std::chrono::seconds(10)};
};

// "HOST:PORT" ("[::1]:80" for IPv6) split; kInvalidArgument naming `flag` otherwise.
Status ParseHostPort(const std::string& address, const std::string& flag, std::string& host,
                     int& port);

// Checks the limits against each other and the model (kInvalidArgument naming the flag).
Status ValidateConfig(const CoordinatorConfig& config, const ModelDirectory& model);

class Coordinator {
 public:
  // Validates `config`, listens on both addresses and starts serving.
  static StatusOr<std::unique_ptr<Coordinator>> Start(CoordinatorConfig config, ModelDirectory model);
  ~Coordinator();

  int control_port() const { return control_port_; }
  int http_port() const { return http_port_; }
  int metrics_port() const { return metrics_->port(); }
  const std::string& metrics_host() const { return metrics_->host(); }
  const std::string& http_host() const { return http_host_; }
  const std::string& control_host() const { return control_host_; }
  Cluster& cluster() { return *cluster_; }

  // Blocks until Shutdown is called from another thread or a drain has ended.
  void Wait();
  // Stops HTTP, then ends every control stream; idempotent.
  void Shutdown();
  // Begins a drain and returns at once: new completions get 503 and /ready 503 "draining";
  // the accepted ones (running and queued) run until answered or `timeout` passes, when
  // those left fail with 503; then every worker is told to shut down and the coordinator
  // stops (Wait returns). Called again during the drain, it cuts it short: what is left
  // fails at once.
  void Drain(std::chrono::milliseconds timeout);

 private:
  Coordinator(CoordinatorConfig config, ModelDirectory model);
  void FinishDrain(std::chrono::steady_clock::time_point deadline);

  const CoordinatorConfig config_;
  const ModelDirectory model_;
  std::unique_ptr<metrics::MetricsServer> metrics_;
  std::unique_ptr<CoordinatorMetrics> coordinator_metrics_;
  std::unique_ptr<Cluster> cluster_;
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HttpApi> http_;
  std::thread http_thread_;
  std::string control_host_;
  std::string http_host_;
  int control_port_ = 0;
  int http_port_ = 0;
  std::mutex mu_;
  std::condition_variable stopped_cv_;
  bool stopped_ = false;
  bool draining_ = false;     // Drain was called (guarded by mu_)
  std::thread drain_thread_;  // FinishDrain
};

}  // namespace strata::coordinator
