// strata-coordinator: loads the model's config and tokenizer, waits for --workers workers to
// register on the control address, plans the pipeline and serves the OpenAI-compatible HTTP
// API. Prints "strata-coordinator: control listening on HOST:PORT" and "... http listening
// on HOST:PORT" to stderr once both listen (so launchers can read picked ports). SIGINT or
// SIGTERM drains it (Coordinator::Drain, up to --drain-timeout-s; a second signal cuts the
// drain short), then it exits 0. Errors: one line on stderr and exit code 1 (usage: exit 2).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "common/cluster/cluster_token.h"
#include "common/cluster/drain_timeout.h"
#include "common/cluster/stop_signals.h"
#include "common/cluster/tls_files.h"
#include "common/loader/draft_compatibility.h"
#include "common/serving/speculation.h"
#include "coordinator/coordinator.h"

namespace {

// The API key's environment variable (--api-key-file wins over it).
constexpr const char* kApiKeyEnv = "STRATA_API_KEY";

struct Flags {
  std::string model_dir;
  std::string token_file;
  std::string api_key_file;
  std::string tls_cert, tls_key, tls_ca;  // the control plane's TLS (cert and key: TLS on)
  std::string http_tls_cert, http_tls_key, http_tls_ca;  // the HTTP API's (likewise)
  double request_timeout_s = 0;  // set from CompletionLimits' default
  double step_timeout_s = std::chrono::duration<double>(
                              strata::coordinator::kDefaultStepTimeout).count();
  double recover_timeout_s = std::chrono::duration<double>(
                                 strata::coordinator::kDefaultRecoverTimeout).count();
  double drain_timeout_s = strata::cluster::kDefaultDrainTimeoutS;
  double link_gbps = 0;        // 0: hops not modelled
  double link_latency_ms = 0;
  pid_t parent_pid = 0;        // 0: outlive the process that started this one
  std::string draft_model;     // empty: no speculative decoding
  std::string speculative;     // off | auto | N; empty: auto with a draft model
  int32_t draft_branch = strata::coordinator::ClusterSpeculation{}.branch;
};

// --draft-model, --speculative and --draft-branch, checked against the model and the limits.
strata::StatusOr<std::optional<strata::coordinator::ClusterSpeculation>> SpeculationFlags(
    const Flags& flags, const strata::ModelDirectory& model, const strata::ServingLimits& limits) {
  using namespace strata;
  if (flags.draft_model.empty()) {
    if (!flags.speculative.empty() && flags.speculative != "off") {
      return InvalidArgument("--speculative " + flags.speculative + " needs --draft-model PACK");
    }
    return std::optional<coordinator::ClusterSpeculation>();
  }
  STRATA_ASSIGN_OR_RETURN(const Speculation setting,
                          ParseSpeculation(flags.speculative.empty() ? "auto" : flags.speculative));
  if (setting.mode == SpeculationMode::kOff) return std::optional<coordinator::ClusterSpeculation>();
  // A step carries a sequence's root, its tree and the nodes kept from its last tree.
  if (limits.max_batch_tokens < 2 * setting.tree_tokens + 1) {
    return InvalidArgument("--speculative " + SpeculationName(setting) + " grows trees of up to " +
                           std::to_string(setting.tree_tokens) + " nodes, which need "
                           "--max-batch-tokens of at least " +
                           std::to_string(2 * setting.tree_tokens + 1) + " (it is " +
                           std::to_string(limits.max_batch_tokens) + ")");
  }
  STRATA_ASSIGN_OR_RETURN(const ModelDirectory draft, LoadModelDirectory(flags.draft_model));
  STRATA_RETURN_IF_ERROR(CheckDraftCompatible(model, draft));
  coordinator::ClusterSpeculation s{flags.draft_model, setting, flags.draft_branch, 0};
  STRATA_ASSIGN_OR_RETURN(s.draft_bytes,
                          coordinator::DraftResidentBytes(draft, coordinator::StageLimits(limits, s)));
  return std::optional<coordinator::ClusterSpeculation>(std::move(s));
}

strata::Status Run(strata::coordinator::CoordinatorConfig config, const Flags& flags) {
  using namespace strata;
  STRATA_ASSIGN_OR_RETURN(config.cluster_token, cluster::ReadTokenFile(flags.token_file));
  if (!flags.tls_cert.empty() || !flags.tls_key.empty() || !flags.tls_ca.empty()) {
    if (flags.tls_cert.empty()) {
      return InvalidArgument("--tls-key and --tls-ca need --tls-cert: the control plane's "
                             "certificate");
    }
    STRATA_ASSIGN_OR_RETURN(config.control_tls, cluster::LoadTlsFiles("--tls", flags.tls_cert,
                                                                       flags.tls_key, flags.tls_ca));
  }
  if (!flags.http_tls_cert.empty() || !flags.http_tls_key.empty() || !flags.http_tls_ca.empty()) {
    if (flags.http_tls_cert.empty()) {
      return InvalidArgument("--http-tls-key and --http-tls-ca need --http-tls-cert: the HTTP "
                             "API's certificate");
    }
    STRATA_ASSIGN_OR_RETURN(config.http.tls,
                            cluster::LoadTlsFiles(coordinator::kHttpTlsFlag, flags.http_tls_cert,
                                                  flags.http_tls_key, flags.http_tls_ca));
  }
  struct stat st {};
  if (stat(flags.token_file.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    spdlog::warn("cluster token file {} is readable by others than its owner; chmod 600 it",
                 flags.token_file);
  }
  if (!flags.api_key_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(config.http.api_key, cluster::ReadTokenFile(flags.api_key_file, "API key"));
    if (stat(flags.api_key_file.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      spdlog::warn("API key file {} is readable by others than its owner; chmod 600 it",
                   flags.api_key_file);
    }
  } else if (const char* env = std::getenv(kApiKeyEnv); env != nullptr && *env != '\0') {
    config.http.api_key = env;
  }
  if (!config.http.api_key && config.http_address.rfind("127.", 0) != 0 &&
      config.http_address.rfind("[::1]", 0) != 0 && config.http_address.rfind("localhost", 0) != 0) {
    spdlog::warn("the HTTP API on {} is open to anyone who can reach it: give --api-key-file "
                 "(or {}) to require a key", config.http_address, kApiKeyEnv);
  }
  if (!(flags.request_timeout_s > 0) || flags.request_timeout_s > 86400) {
    return InvalidArgument("--request-timeout-s must be from 0 to 86400 seconds");
  }
  config.http.completions.request_timeout = std::chrono::milliseconds(
      static_cast<int64_t>(flags.request_timeout_s * 1000));
  if (!(flags.step_timeout_s >= 0.1) || flags.step_timeout_s > 3600) {
    return InvalidArgument("--step-timeout-s must be from 0.1 to 3600 seconds, got " +
                           std::to_string(flags.step_timeout_s));
  }
  config.cluster.step_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(flags.step_timeout_s * 1000));
  if (!(flags.recover_timeout_s >= 0.1) || flags.recover_timeout_s > 86400) {
    return InvalidArgument("--recover-timeout-s must be from 0.1 to 86400 seconds, got " +
                           std::to_string(flags.recover_timeout_s));
  }
  config.cluster.recover_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(flags.recover_timeout_s * 1000));
  STRATA_ASSIGN_OR_RETURN(const std::chrono::milliseconds drain_timeout,
                          cluster::DrainTimeout(flags.drain_timeout_s));
  if (flags.link_gbps != 0 || flags.link_latency_ms != 0) {
    if (!(flags.link_gbps > 0 && flags.link_gbps < 1e6) ||
        !(flags.link_latency_ms >= 0 && flags.link_latency_ms < 1e4)) {
      return InvalidArgument("--link-gbps must be positive and --link-latency-ms not negative "
                             "(give both, as `strata bench-transport` measures them)");
    }
    config.cluster.link = LinkSpec{flags.link_gbps, flags.link_latency_ms};
  }
  STRATA_ASSIGN_OR_RETURN(ModelDirectory model,
                          LoadModelDirectory(flags.model_dir));
  STRATA_ASSIGN_OR_RETURN(config.cluster.speculation,
                          SpeculationFlags(flags, model, config.cluster.limits));
  if (config.cluster.speculation) {
    spdlog::info("speculative decoding: draft {} on the last stage ({:.3f} GB there), trees {}",
                 config.cluster.speculation->draft_model,
                 static_cast<double>(config.cluster.speculation->draft_bytes) / 1e9,
                 SpeculationName(config.cluster.speculation->setting));
  }
  spdlog::info("model {}: {} layers, hidden {}, vocabulary {}{}",
               config.served_model_names.empty() ? model.name() : config.served_model_names.front(),
               model.config.num_layers, model.config.hidden_size, model.config.vocab_size,
               model.dtype.empty() ? "" : ", pack " + model.dtype);

  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<cluster::StopSignals> signals,
                          cluster::StopSignals::Install());
  if (flags.parent_pid != 0) STRATA_RETURN_IF_ERROR(cluster::StopWithParent(flags.parent_pid));

  STRATA_ASSIGN_OR_RETURN(auto coordinator,
                          coordinator::Coordinator::Start(std::move(config), std::move(model)));
  std::fprintf(stderr, "strata-coordinator: control listening on %s:%d\n",
               coordinator->control_host().c_str(), coordinator->control_port());
  std::fprintf(stderr, "strata-coordinator: http listening on %s:%d\n",
               coordinator->http_host().c_str(), coordinator->http_port());
  std::fprintf(stderr, "strata-coordinator: metrics listening on %s:%d\n",
               coordinator->metrics_host().c_str(), coordinator->metrics_port());
  std::fflush(stderr);

  // The first signal begins the drain, a second one cuts it short.
  std::atomic<bool> stopped{false};
  std::thread signal_waiter([&] {
    for (int sig = signals->Next(); sig != 0 && !stopped; sig = signals->Next()) {
      spdlog::info("signal {}", sig);
      coordinator->Drain(drain_timeout);
    }
  });
  coordinator->Wait();
  stopped = true;
  signals->Wake();
  signal_waiter.join();
  return OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "strata-coordinator", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  CLI::App app{"strata-coordinator: plans a Strata cluster and serves its OpenAI-compatible API"};
  strata::coordinator::CoordinatorConfig config;
  Flags flags;
  flags.request_timeout_s =
      std::chrono::duration<double>(config.http.completions.request_timeout).count();
  app.add_option("--model", flags.model_dir,
                 "Strata pack directory (manifest.json, tokenizer.json) or Hugging Face "
                 "directory (config.json, tokenizer.json)")
      ->required();
  app.add_option("--http", config.http_address, "HTTP API address HOST:PORT (port 0: any)")
      ->capture_default_str();
  app.add_option("--metrics-address", config.metrics_address,
                 "Prometheus metrics (GET /metrics) address HOST:PORT (port 0: any)")
      ->capture_default_str();
  app.add_option("--control", config.control_address,
                 "the coordinator's cluster address: where the control plane (gRPC) listens "
                 "and workers register (their --coordinator), HOST:PORT (port 0: any)")
      ->capture_default_str();
  app.add_option("--tls-cert", flags.tls_cert,
                 "control plane over TLS: this coordinator's PEM certificate (chain), naming the "
                 "host workers give as --coordinator");
  app.add_option("--tls-key", flags.tls_key, "the private key (PEM) of --tls-cert");
  app.add_option("--tls-ca", flags.tls_ca,
                 "with --tls-cert: mutual TLS, workers must present a certificate these PEM CA "
                 "certificate(s) verify (their --tls-cert)");
  app.add_option("--http-tls-cert", flags.http_tls_cert,
                 "serve the HTTP API over TLS (HTTPS only): its PEM certificate (chain), naming the "
                 "host clients connect to");
  app.add_option("--http-tls-key", flags.http_tls_key, "the private key (PEM) of --http-tls-cert");
  app.add_option("--http-tls-ca", flags.http_tls_ca,
                 "with --http-tls-cert: clients must present a certificate these PEM CA "
                 "certificate(s) verify");
  app.add_option("--workers", config.cluster.expected_workers,
                 "workers the pipeline is planned over")
      ->capture_default_str();
  app.add_option("--token-file", flags.token_file,
                 "file holding the shared cluster token workers must present")
      ->required();
  app.add_option("--max-batch-tokens", config.cluster.limits.max_batch_tokens,
                 "tokens per pipeline step (prefill chunk and decode batch)")
      ->capture_default_str();
  app.add_option("--max-seq-len", config.cluster.limits.max_seq_len,
                 "most tokens a sequence holds: prompt plus max_tokens")
      ->capture_default_str();
  app.add_option("--kv-slots", config.cluster.limits.kv_slots,
                 "sequences open at once on the workers; more requests queue")
      ->capture_default_str();
  app.add_option("--max-queued-requests", config.cluster.max_queued_requests,
                 "requests that may wait for a sequence slot; more get HTTP 429 with "
                 "Retry-After (default: " +
                     std::to_string(strata::coordinator::kQueuedRequestsPerSlot) + " per KV slot)");
  app.add_option("--api-key-file", flags.api_key_file,
                 std::string("file holding the API key clients must send as Authorization: "
                             "Bearer KEY on /v1/ routes (else the environment variable ") +
                     kApiKeyEnv + "; neither: no key)");
  app.add_option("--served-model-name", config.served_model_names,
                 "the model's name in the API (repeat for aliases; the first is the name "
                 "responses carry); default: the checkpoint directory's name");
  app.add_option("--transport", config.cluster.transport,
                 "data plane between workers: ucx (any hosts, activations staged through host "
                 "memory) or nccl (GPU to GPU; every worker on a GPU of its own, CUDA backend)")
      ->capture_default_str();
  app.add_option("--link-gbps", flags.link_gbps,
                 "the hop between workers in GB/s, for the plan's predictions (with "
                 "--link-latency-ms; measure with `strata bench-transport`)");
  app.add_option("--link-latency-ms", flags.link_latency_ms,
                 "the hop's one-way latency in ms, for the plan's predictions");
  app.add_option("--request-timeout-s", flags.request_timeout_s,
                 "a completion that takes longer fails with HTTP 504")
      ->capture_default_str();
  app.add_option("--step-timeout-s", flags.step_timeout_s,
                 "a pipeline step not answered within this (or 4x the plan's prediction, if "
                 "longer) fails its requests with 503 and the pipeline is reset and re-planned "
                 "(a lost message, a stage stuck in compute)")
      ->capture_default_str();
  app.add_flag("--recover,!--no-recover", config.cluster.recover,
               "when a worker is lost, keep its running requests and resume them (prefilled "
               "again over their tokens so far) once the cluster serves again, instead of "
               "failing them with 503 at once (default on)");
  app.add_option("--recover-timeout-s", flags.recover_timeout_s,
                 "with --recover: the most seconds those requests wait for the cluster to serve "
                 "again (a restarted worker or a spare) before they fail with 503")
      ->capture_default_str();
  app.add_option("--drain-timeout-s", flags.drain_timeout_s,
                 "on SIGTERM/SIGINT: the most seconds the accepted requests get to finish (new "
                 "ones get HTTP 503) before the rest fail and the workers are told to shut "
                 "down (0: no waiting)")
      ->capture_default_str();
  app.add_option("--parent-pid", flags.parent_pid, strata::cluster::kParentPidHelp);
  app.add_option("--draft-model", flags.draft_model,
                 "Speculative decoding: a pack of a small model of the same tokenizer, at this "
                 "path on the last stage's worker too; it runs there GPU-resident, inside that "
                 "stage's budget");
  app.add_option("--speculative", flags.speculative,
                 "With --draft-model: auto (tree sizes from measured pass costs and acceptance; "
                 "the default), off, or N tree tokens per pass");
  app.add_option("--draft-branch", flags.draft_branch,
                 "Children the draft ranks below each node of its trees")
      ->check(CLI::Range(1, 64));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const strata::Status status = Run(std::move(config), flags);
  if (!status.ok()) {
    std::fprintf(stderr, "strata-coordinator: error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
