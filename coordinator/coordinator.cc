// The assembled coordinator (see coordinator.h).
#include "coordinator/coordinator.h"

#include <spdlog/spdlog.h>

#include <charconv>

namespace strata::coordinator {

namespace {

// After a drain's timeout fails what is left, the most its handlers get to write the errors
// out (a handler sees its failure at once; a client that does not read can hold it longer).
constexpr std::chrono::seconds kAnswerGrace{2};
// The most a drain waits for the workers' streams to end once they were told to shut down.
constexpr std::chrono::seconds kWorkersLeaveTimeout{5};

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The control plane's server credentials: TLS with `tls`'s certificate (and client
// certificates required and verified against its ca, when it has one), else plain text.
std::shared_ptr<grpc::ServerCredentials> ControlCredentials(
    const std::optional<cluster::TlsPems>& tls) {
  if (!tls) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      tls->ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                      : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = tls->ca;
  options.pem_key_cert_pairs.push_back({tls->key, tls->cert});
  return grpc::SslServerCredentials(options);
}

}  // namespace

Status ParseHostPort(const std::string& address, const std::string& flag, std::string& host,
                     int& port) {
  const size_t colon = address.rfind(':');
  const auto bad = [&](const std::string& why) {
    return InvalidArgument(flag + " " + address + ": " + why +
                           "; give HOST:PORT such as 127.0.0.1:8000 ([::1]:8000 for IPv6, "
                           "port 0 to pick a free one)");
  };
  if (colon == std::string::npos || colon == 0) return bad("no host or no port");
  std::string h = address.substr(0, colon);
  if (h.front() == '[') {
    if (h.back() != ']' || h.size() < 3) return bad("an IPv6 host needs its closing ]");
    h = h.substr(1, h.size() - 2);
  }
  const std::string p = address.substr(colon + 1);
  int value = -1;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || value < 0 || value > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  host = h;
  port = value;
  return OkStatus();
}

Status ValidateConfig(const CoordinatorConfig& config, const ModelDirectory& model) {
  const ClusterOptions& c = config.cluster;
  if (c.expected_workers < 1 || c.expected_workers > model.config.num_layers) {
    return InvalidArgument("--workers must be from 1 to the model's " +
                           std::to_string(model.config.num_layers) + " layers, got " +
                           std::to_string(c.expected_workers));
  }
  STRATA_RETURN_IF_ERROR(ValidateServingLimits(c.limits, model.config.max_position_embeddings));
  if (c.queue_limit() < 0 || c.queue_limit() > 1000000) {
    return InvalidArgument("--max-queued-requests must be from 0 to 1000000, got " +
                           std::to_string(c.queue_limit()));
  }
  for (const std::string& name : config.served_model_names) {
    if (name.empty() || name.size() > 256 ||
        name.find_first_of(" \t\r\n\"") != std::string::npos) {
      return InvalidArgument("--served-model-name '" + name +
                             "': give a non-empty name without spaces or quotes, at most 256 "
                             "characters");
    }
  }
  if (config.http.api_key && config.http.api_key->empty()) {
    return InvalidArgument("the API key is empty");
  }
  if (c.transport != "ucx" && c.transport != "nccl") {
    return InvalidArgument("--transport " + c.transport +
                           ": expected ucx (any hosts, host-memory staging) or nccl (GPU to GPU, "
                           "a GPU per worker)");
  }
  if (config.http.completions.request_timeout.count() <= 0) {
    return InvalidArgument("--request-timeout-s must be positive");
  }
  if (config.cluster_token.empty()) return InvalidArgument("the cluster token is empty");
  return OkStatus();
}

Coordinator::Coordinator(CoordinatorConfig config, ModelDirectory model)
    : config_(std::move(config)), model_(std::move(model)) {}

StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(CoordinatorConfig config,
                                                          ModelDirectory model) {
  STRATA_RETURN_IF_ERROR(ValidateConfig(config, model));
  std::string control_host;
  std::string http_host;
  int control_port = 0;
  int http_port = 0;
  STRATA_RETURN_IF_ERROR(
      ParseHostPort(config.control_address, "--control", control_host, control_port));
  STRATA_RETURN_IF_ERROR(ParseHostPort(config.http_address, "--http", http_host, http_port));

  if (!config.served_model_names.empty()) model.names = config.served_model_names;
  std::unique_ptr<Coordinator> c(new Coordinator(std::move(config), std::move(model)));
  STRATA_ASSIGN_OR_RETURN(c->metrics_, metrics::MetricsServer::Start(c->config_.metrics_address,
                                                                     "--metrics-address"));
  c->coordinator_metrics_ = std::make_unique<CoordinatorMetrics>(c->metrics_->registry());
  c->cluster_ =
      std::make_unique<Cluster>(c->config_.cluster, c->model_, c->coordinator_metrics_.get());
  c->service_ = std::make_unique<ControlService>(*c->cluster_, c->config_.cluster_token,
                                                 c->config_.registration_timeout);
  grpc::ServerBuilder builder;
  const std::string grpc_host = control_host.find(':') != std::string::npos
                                    ? "[" + control_host + "]"
                                    : control_host;
  builder.AddListeningPort(grpc_host + ":" + std::to_string(control_port),
                           ControlCredentials(c->config_.control_tls), &c->control_port_);
  builder.RegisterService(c->service_.get());
  // gRPC binds with SO_REUSEPORT by default: a second coordinator on the port would quietly
  // take some of the workers. Off, that is a bind error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive both ways (cluster/protocol.h), and the workers' pings allowed at their rate.
  const int keepalive_ms = static_cast<int>(cluster::kKeepaliveInterval.count());
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(cluster::kKeepaliveTimeout.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, keepalive_ms / 2);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  c->grpc_server_ = builder.BuildAndStart();
  if (c->grpc_server_ == nullptr || c->control_port_ == 0) {
    return Unavailable("could not listen for workers on " + c->config_.control_address +
                       "; is the port in use? Pick another --control");
  }
  c->control_host_ = control_host;

  HttpOptions http_options = c->config_.http;
  http_options.completions.max_seq_len = c->config_.cluster.limits.max_seq_len;
  c->http_ = std::make_unique<HttpApi>(*c->cluster_, c->model_, std::move(http_options),
                                       *c->coordinator_metrics_);
  STRATA_ASSIGN_OR_RETURN(c->http_port_, c->http_->Bind(http_host, http_port));
  c->http_host_ = http_host;
  c->http_thread_ = std::thread([http = c->http_.get()] { http->Serve(); });
  c->http_->WaitUntilServing();
  return c;
}

Coordinator::~Coordinator() {
  Shutdown();  // a drain in progress sees its requests fail and ends at once
  if (drain_thread_.joinable()) drain_thread_.join();
}

void Coordinator::Wait() {
  std::unique_lock lock(mu_);
  stopped_cv_.wait(lock, [&] { return stopped_; });
}

void Coordinator::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  // Requests waiting in HTTP handlers fail first, so stopping HTTP does not wait for them.
  if (cluster_ != nullptr) cluster_->Stop();
  if (http_ != nullptr) http_->Stop();
  if (http_thread_.joinable()) http_thread_.join();
  if (grpc_server_ != nullptr) {
    // Streams block in Read; past the deadline gRPC cancels them and the handlers return.
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    grpc_server_->Wait();
  }
  stopped_cv_.notify_all();
}

void Coordinator::Drain(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    if (draining_) {
      spdlog::warn("stopping now: the drain is cut short, the requests left fail");
      cluster_->FailRemaining(Unavailable("the coordinator was stopped during its drain; retry "
                                          "on another replica or once it has restarted"));
      return;
    }
    draining_ = true;
  }
  cluster_->Drain();
  const ClusterHealth h = cluster_->Health();
  spdlog::info("draining: {} running, {} queued; stopping within {:.1f} s (--drain-timeout-s), "
               "at once on a second signal",
               h.open_sequences, h.queued, std::chrono::duration<double>(timeout).count());
  drain_thread_ = std::thread([this, deadline = Clock::now() + timeout] { FinishDrain(deadline); });
}

// Waits for every accepted request to be answered (failing what is left at `deadline`), tells
// the workers to shut down, and stops.
void Coordinator::FinishDrain(Clock::time_point deadline) {
  const Clock::time_point start = Clock::now();
  const size_t open = http_->WaitAllAnswered(deadline);
  if (open > 0) {
    spdlog::warn("drain timeout: {} accepted requests unfinished after {:.1f} s fail with 503",
                 open, SecondsSince(start));
  }
  // Fails what is left (none when every request was answered; the scheduler forgets them).
  cluster_->FailRemaining(Unavailable(
      "the coordinator's drain timeout (--drain-timeout-s) passed before the request finished; "
      "retry on another replica or once it has restarted"));
  if (open > 0) {
    if (const size_t cut = http_->WaitAllAnswered(Clock::now() + kAnswerGrace); cut > 0) {
      spdlog::warn("{} answers were not written out within {} s and are cut off", cut,
                   kAnswerGrace.count());
    }
  } else {
    spdlog::info("drained: every accepted request answered in {:.1f} s", SecondsSince(start));
  }
  const int32_t workers = cluster_->Health().registered;
  if (!cluster_->ShutDownWorkers("the coordinator is stopping", kWorkersLeaveTimeout)) {
    spdlog::warn("some workers' streams did not end within {} s of their Shutdown",
                 kWorkersLeaveTimeout.count());
  }
  spdlog::info("drain ended after {:.1f} s: {} workers told to shut down; stopping",
               SecondsSince(start), workers);
  Shutdown();
}

}  // namespace strata::coordinator
