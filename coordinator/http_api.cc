// The HTTP API (see http_api.h).
#include "coordinator/http_api.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "common/util/secret.h"

namespace strata::coordinator {

using Json = nlohmann::json;

namespace {

constexpr size_t kMaxBodyBytes = size_t{16} << 20;
// httplib closes a connection after 5 requests by default; clients (the openai SDKs) keep
// theirs open, so allow many before a reconnect.
constexpr size_t kMaxRequestsPerConnection = 10000;
constexpr const char* kJson = "application/json";
constexpr const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json LinkJson(const control::v1::LinkStats& l) {
  return Json{{"messages", l.messages()},
              {"payload_bytes", l.payload_bytes()},
              {"mean_ms", l.messages() > 0 ? 1e3 * l.seconds_total() / l.messages() : 0.0},
              {"max_ms", 1e3 * l.seconds_max()},
              {"last_ms", 1e3 * l.seconds_last()}};
}

Json PhaseJson(const PhaseTotals& t) {
  return Json{{"tokens_per_pass", t.tokens_per_pass},
              {"latency_ms", t.latency_ms},
              {"pace_ms", t.pace_ms},
              {"tokens_per_s_single", t.tokens_per_s_single},
              {"tokens_per_s_pipelined", t.tokens_per_s_pipelined}};
}

// Ready: serving, not draining, no worker leaving.
bool TakesRequests(const ClusterHealth& h) {
  return h.state == ClusterState::kServing && !h.draining && h.leaving.empty();
}

// Why the cluster does not take requests, in one line.
std::string NotReadyReason(const ClusterHealth& h) {
  if (h.draining) {
    return "draining: the coordinator is stopping; it finishes the " +
           std::to_string(h.open_sequences + h.queued) +
           " requests it accepted and takes no new ones";
  }
  if (!h.leaving.empty()) return h.leaving;
  std::string reason = "the cluster is " + std::string(ClusterStateName(h.state)) + " (" +
                       std::to_string(h.registered) + " of " + std::to_string(h.expected) +
                       " workers registered)";
  if (!h.lost_worker.empty()) reason += "; " + h.lost_worker;
  if (!h.error.empty() && h.error != h.lost_worker) reason += "; " + h.error;
  return reason;
}

// /v1/cluster's one-word status.
std::string_view StatusWord(const ClusterHealth& h) {
  if (h.draining) return "draining";
  if (TakesRequests(h)) return "ready";
  return h.lost_worker.empty() && h.leaving.empty() ? "starting" : "degraded";
}

}  // namespace

HttpApi::HttpApi(Cluster& cluster, const ModelDirectory& model, HttpOptions options,
                 CoordinatorMetrics& metrics)
    : cluster_(cluster),
      model_(model),
      options_(std::move(options)),
      metrics_(metrics),
      started_unix_s_(UnixSeconds()),
      completions_(cluster, model, options_.completions, metrics) {
  const auto threads = static_cast<size_t>(options_.threads);
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_payload_max_length(kMaxBodyBytes);
  server_.set_read_timeout(options_.read_timeout);
  server_.set_keep_alive_timeout(options_.keep_alive_timeout.count());
  server_.set_keep_alive_max_count(kMaxRequestsPerConnection);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port and
  // silently take half the connections; SO_REUSEADDR alone makes that a bind error while a
  // restart still rebinds at once.
  server_.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  const auto completions = [this](Endpoint endpoint) {
    return [this, endpoint](const httplib::Request& req, httplib::Response& res) {
      if (Authorized(req, res)) {
        completions_.Handle(endpoint, req, res);
      } else {
        metrics_.Ended(endpoint, Outcome::kUnauthorized);
      }
    };
  };
  Route("/v1/completions", "POST", completions(Endpoint::kCompletions));
  Route("/v1/chat/completions", "POST", completions(Endpoint::kChatCompletions));
  Route("/v1/models", "GET", [this](const httplib::Request& req, httplib::Response& res) {
    if (Authorized(req, res)) Models(res);
  });
  Route("/v1/cluster", "GET", [this](const httplib::Request& req, httplib::Response& res) {
    if (Authorized(req, res)) ClusterStatus(res);
  });
  Route("/health", "GET", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", kJson);
  });
  Route("/ready", "GET", [this](const httplib::Request&, httplib::Response& res) { Ready(res); });
  // A known path with another method: 405 naming the methods it has (OPTIONS: 204).
  for (const auto& [path, allowed] : allowed_methods_) {
    for (const std::string method : kMethods) {
      if (allowed.find(method) != std::string::npos) continue;
      const auto answer = [path, allowed, method](const httplib::Request&, httplib::Response& res) {
        res.set_header("Allow", allowed);
        if (method == "OPTIONS") {
          res.status = 204;
          return;
        }
        SendError(res, ApiError{405, method + " is not allowed on " + path + "; use " + allowed,
                                "invalid_request_error", "", "method_not_allowed", 0});
      };
      if (method == "GET") server_.Get(path, answer);
      if (method == "POST") server_.Post(path, answer);
      if (method == "PUT") server_.Put(path, answer);
      if (method == "DELETE") server_.Delete(path, answer);
      if (method == "PATCH") server_.Patch(path, answer);
      if (method == "OPTIONS") server_.Options(path, answer);
    }
  }

  server_.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("{} {}: {}", req.method, req.path, what);
        SendError(res, ApiError{500, "internal error: " + what, "server_error", "", "", 0});
      });
  server_.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 400 && HttpServer::ReadTimedOut()) {
      res.status = 408;
      res.set_header("Connection", "close");
    }
    std::string message = "HTTP " + std::to_string(res.status) + " for " + req.method + " " +
                          req.path;
    if (res.status == 404) {
      message = "no route " + req.method + " " + req.path + "; this server has";
      for (const auto& [path, allowed] : allowed_methods_) message += " " + allowed + " " + path + ",";
      message.back() = '.';
    }
    if (res.status == 408) {
      message = "the request did not arrive complete within " +
                Json(std::chrono::duration<double>(options_.read_timeout).count()).dump() +
                " s; send the headers and the whole body without pausing";
    }
    if (res.status == 413) message = "the request body is larger than 16 MiB";
    res.set_content(ApiError{res.status, message, "invalid_request_error", "", "", 0}.ToJson(),
                    kJson);
  });
}

void HttpApi::Route(const std::string& path, const std::string& method,
                    httplib::Server::Handler handler) {
  std::string& allowed = allowed_methods_[path];
  allowed += (allowed.empty() ? "" : ", ") + method;
  if (method == "GET") server_.Get(path, std::move(handler));
  if (method == "POST") server_.Post(path, std::move(handler));
}

bool HttpApi::Authorized(const httplib::Request& request, httplib::Response& response) const {
  if (!options_.api_key) return true;
  const std::string header = request.get_header_value("Authorization");
  // "Bearer KEY"; the scheme's case does not matter (RFC 9110 §11.1).
  constexpr std::string_view kBearer = "bearer ";
  const bool bearer =
      header.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), header.begin(),
                 [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); });
  const bool ok =
      bearer && SecretsEqual(std::string_view(header).substr(kBearer.size()), *options_.api_key);
  if (ok) return true;
  SendError(response,
            ApiError{401,
                     header.empty() ? "no API key: send the header Authorization: Bearer KEY"
                                    : "the API key is not valid: send the key the server was "
                                      "started with (--api-key-file) as Authorization: Bearer KEY",
                     "invalid_request_error", "", "invalid_api_key", 0});
  response.set_header("WWW-Authenticate", "Bearer");
  return false;
}

StatusOr<int> HttpApi::Bind(const std::string& host, int port) {
  if (options_.tls) {
    STRATA_ASSIGN_OR_RETURN(std::shared_ptr<const TlsServerContext> tls,
                            TlsServerContext::Create(*options_.tls, kHttpTlsFlag));
    server_.UseTls(std::move(tls));
  }
  if (port == 0) {
    const int bound = server_.bind_to_any_port(host);
    if (bound > 0) return bound;
  } else if (server_.bind_to_port(host, port)) {
    return port;
  }
  return Unavailable("could not listen for HTTP on " + host + ":" + std::to_string(port) +
                     "; is the port in use or the host not local? Pick another --http");
}

void HttpApi::Serve() { server_.listen_after_bind(); }

void HttpApi::WaitUntilServing() const {
  while (!server_.is_running()) std::this_thread::yield();
}

void HttpApi::Stop() { server_.stop(); }

void HttpApi::Ready(httplib::Response& response) const {
  const ClusterHealth h = cluster_.Health();
  if (TakesRequests(h)) {
    response.set_content(Json{{"status", "ready"}, {"epoch", h.epoch}}.dump(), kJson);
    return;
  }
  response.status = 503;
  response.set_header("Retry-After", std::to_string(kRetryAfterUnavailableS));
  response.set_content(Json{{"status", "not_ready"},
                            {"state", std::string(ClusterStateName(h.state))},
                            {"epoch", h.epoch},
                            {"reason", NotReadyReason(h)}}
                           .dump(),
                       kJson);
}

void HttpApi::ClusterStatus(httplib::Response& response) const {
  const ClusterHealth h = cluster_.Health();
  const bool ready = TakesRequests(h);
  Json workers = Json::array();
  for (const WorkerSummary& w : h.workers) {
    Json entry = {{"id", w.id}, {"name", w.name}, {"backend", w.backend}};
    if (w.spare) entry["spare"] = true;
    if (w.stage >= 0) {
      entry["stage"] = w.stage;
      entry["layers"] = {w.first_layer, w.first_layer + w.num_layers};
    }
    if (w.sent.messages() > 0) entry["sent"] = LinkJson(w.sent);
    if (w.received.messages() > 0) entry["received"] = LinkJson(w.received);
    workers.push_back(std::move(entry));
  }
  Json body = {{"status", std::string(StatusWord(h))},
               {"state", std::string(ClusterStateName(h.state))},
               {"draining", h.draining},
               {"epoch", h.epoch},
               {"workers_registered", h.registered},
               {"workers_expected", h.expected},
               {"queued_requests", h.queued},
               {"open_sequences", h.open_sequences},
               {"pipeline_passes", h.pipeline_passes},
               {"workers", std::move(workers)}};
  if (!ready) body["reason"] = NotReadyReason(h);
  if (!h.step_policy.empty()) body["step_policy"] = h.step_policy;
  if (!h.leaving.empty()) body["leaving"] = h.leaving;
  if (!h.lost_worker.empty()) body["lost_worker"] = h.lost_worker;
  if (!h.error.empty()) body["error"] = h.error;
  if (h.planned_prefill && h.planned_decode) {
    body["plan"] = {{"prefill", PhaseJson(*h.planned_prefill)},
                    {"decode", PhaseJson(*h.planned_decode)}};
  }
  response.set_content(body.dump(), kJson);
}

void HttpApi::Models(httplib::Response& response) const {
  Json data = Json::array();
  for (const std::string& name : model_.names) {
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", started_unix_s_},
                    {"owned_by", "strata"},
                    {"root", model_.name()},
                    {"max_model_len", options_.completions.max_seq_len}});
  }
  response.set_content(Json{{"object", "list"}, {"data", std::move(data)}}.dump(), kJson);
}

}  // namespace strata::coordinator
