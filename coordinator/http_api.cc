// The HTTP API (see http_api.h).
#include "coordinator/http_api.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <random>
#include <thread>

#include "coordinator/completion_request.h"

namespace strata::coordinator {

using Json = nlohmann::json;

namespace {

constexpr size_t kMaxBodyBytes = size_t{16} << 20;
constexpr const char* kJson = "application/json";

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// 64 bits from the OS for a request without a seed.
uint64_t RandomSeed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}

void SendError(httplib::Response& response, const ApiError& error) {
  response.status = error.http_status;
  response.set_content(error.ToJson(), kJson);
}

// The HTTP status and error type for a generation that failed with `status`.
ApiError ServerError(const Status& status) {
  ApiError e;
  e.message = status.message();
  e.type = "server_error";
  if (status.code() == StatusCode::kUnavailable) {
    e.http_status = 503;
    e.code = "cluster_unavailable";
  } else {
    e.http_status = 500;
    e.code = "worker_error";
  }
  return e;
}

}  // namespace

HttpApi::HttpApi(Cluster& cluster, const ModelInfo& model, HttpOptions options)
    : cluster_(cluster), model_(model), options_(options), started_unix_s_(UnixSeconds()) {
  const auto threads = static_cast<size_t>(options_.threads);
  server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_.set_payload_max_length(kMaxBodyBytes);
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port and
  // silently take half the connections; SO_REUSEADDR alone makes that a bind error while a
  // restart still rebinds at once.
  server_.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Completions(req, res);
  });
  server_.Get("/health", [this](const httplib::Request&, httplib::Response& res) { Health(res); });
  server_.Get("/v1/models",
              [this](const httplib::Request&, httplib::Response& res) { Models(res); });
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
        SendError(res, ApiError{500, "internal error: " + what, "server_error", "", ""});
      });
  server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP " + std::to_string(res.status) + " for " + req.method + " " +
                          req.path;
    if (res.status == 404) message = "no route " + req.method + " " + req.path +
                                     "; this server has POST /v1/completions, GET /v1/models "
                                     "and GET /health";
    if (res.status == 413) message = "the request body is larger than 16 MiB";
    res.set_content(ApiError{res.status, message, "invalid_request_error", "", ""}.ToJson(),
                    kJson);
  });
}

StatusOr<int> HttpApi::Bind(const std::string& host, int port) {
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

void HttpApi::Completions(const httplib::Request& request, httplib::Response& response) {
  ApiError error;
  std::optional<CompletionRequest> parsed = ParseCompletionRequest(request.body, model_.name, error);
  if (!parsed) return SendError(response, error);
  CompletionRequest& r = *parsed;

  StatusOr<std::vector<int32_t>> prompt_ids = model_.tokenizer->Encode(r.prompt, true);
  if (!prompt_ids.ok()) {
    return SendError(response, ApiError{400, "prompt: " + prompt_ids.status().message(),
                                        "invalid_request_error", "prompt", ""});
  }
  const auto prompt_len = static_cast<int64_t>(prompt_ids->size());
  if (prompt_len + r.max_tokens > options_.max_seq_len) {
    return SendError(
        response,
        ApiError{400,
                 "the prompt is " + std::to_string(prompt_len) + " tokens and max_tokens is " +
                     std::to_string(r.max_tokens) + ": together more than the " +
                     std::to_string(options_.max_seq_len) +
                     " tokens a sequence may hold (--max-seq-len); shorten the prompt or "
                     "lower max_tokens",
                 "invalid_request_error", "max_tokens", "context_length_exceeded"});
  }
  if (!r.has_seed) r.sampling.seed = RandomSeed();

  auto generation = std::make_shared<Generation>();
  generation->prompt = std::move(*prompt_ids);
  generation->max_tokens = r.max_tokens;
  generation->sampling = r.sampling;
  const Status submitted = cluster_.Submit(generation);
  if (!submitted.ok()) return SendError(response, ServerError(submitted));
  const auto deadline = std::chrono::steady_clock::now() + options_.request_timeout;
  if (!cluster_.Await(generation, deadline)) {
    const double seconds = std::chrono::duration<double>(options_.request_timeout).count();
    return SendError(response,
                     ApiError{504,
                              "the request did not finish within " + Json(seconds).dump() +
                                  " s (--request-timeout-s); the cluster may be overloaded or "
                                  "a worker stuck: check GET /health and the worker logs",
                              "server_error", "", "timeout"});
  }
  // Done: the scheduler no longer touches `generation`.
  if (!generation->error.ok()) return SendError(response, ServerError(generation->error));

  const StatusOr<std::string> text =
      model_.tokenizer->Decode(generation->output, /*skip_special_tokens=*/true);
  if (!text.ok()) {
    return SendError(response, ServerError(Internal("decoding the output: " +
                                                    text.status().message())));
  }
  const auto completion_tokens = static_cast<int64_t>(generation->output.size());
  Json choice = {{"index", 0},
                 {"text", *text},
                 {"finish_reason", generation->finish_reason},
                 {"logprobs", nullptr}};
  if (r.return_token_ids) choice["token_ids"] = generation->output;
  Json body = {{"id", "cmpl-" + std::to_string(started_unix_s_) + "-" +
                          std::to_string(next_request_number_++)},
               {"object", "text_completion"},
               {"created", UnixSeconds()},
               {"model", model_.name},
               {"choices", Json::array({choice})},
               {"usage",
                {{"prompt_tokens", prompt_len},
                 {"completion_tokens", completion_tokens},
                 {"total_tokens", prompt_len + completion_tokens}}}};
  if (r.return_token_ids) body["prompt_token_ids"] = generation->prompt;
  response.set_content(body.dump(), kJson);
}

void HttpApi::Health(httplib::Response& response) const {
  const ClusterHealth h = cluster_.Health();
  const bool ready = h.state == ClusterState::kServing;
  Json workers = Json::array();
  for (const WorkerSummary& w : h.workers) {
    Json entry = {{"id", w.id}, {"name", w.name}, {"backend", w.backend}};
    if (w.stage >= 0) {
      entry["stage"] = w.stage;
      entry["layers"] = {w.first_layer, w.first_layer + w.num_layers};
    }
    // Per-hop timing of its links (what Prometheus will scrape, until then here).
    const auto link = [](const control::v1::LinkStats& l) {
      return Json{{"messages", l.messages()},
                  {"payload_bytes", l.payload_bytes()},
                  {"mean_ms", l.messages() > 0 ? 1e3 * l.seconds_total() / l.messages() : 0.0},
                  {"max_ms", 1e3 * l.seconds_max()},
                  {"last_ms", 1e3 * l.seconds_last()}};
    };
    if (w.sent.messages() > 0) entry["sent"] = link(w.sent);
    if (w.received.messages() > 0) entry["received"] = link(w.received);
    workers.push_back(std::move(entry));
  }
  Json body = {{"status", ready ? "ready" : (h.lost_worker.empty() ? "starting" : "degraded")},
               {"state", std::string(ClusterStateName(h.state))},
               {"epoch", h.epoch},
               {"workers_registered", h.registered},
               {"workers_expected", h.expected},
               {"queued_requests", h.queued},
               {"open_sequences", h.open_sequences},
               {"workers", std::move(workers)}};
  if (!h.lost_worker.empty()) body["lost_worker"] = h.lost_worker;
  if (!h.error.empty()) body["error"] = h.error;
  if (h.planned_prefill && h.planned_decode) {
    const auto phase = [](const PhaseTotals& t) {
      return Json{{"tokens_per_pass", t.tokens_per_pass},
                  {"latency_ms", t.latency_ms},
                  {"pace_ms", t.pace_ms},
                  {"tokens_per_s_single", t.tokens_per_s_single},
                  {"tokens_per_s_pipelined", t.tokens_per_s_pipelined}};
    };
    body["plan"] = {{"prefill", phase(*h.planned_prefill)}, {"decode", phase(*h.planned_decode)}};
  }
  response.status = ready ? 200 : 503;
  response.set_content(body.dump(), kJson);
}

void HttpApi::Models(httplib::Response& response) const {
  const Json model = {{"id", model_.name},
                      {"object", "model"},
                      {"created", started_unix_s_},
                      {"owned_by", "strata"},
                      {"max_model_len", options_.max_seq_len}};
  response.set_content(Json{{"object", "list"}, {"data", Json::array({model})}}.dump(), kJson);
}

}  // namespace strata::coordinator
