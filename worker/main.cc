// strata-worker: one node of a Strata cluster. Serves its slice of the model from its own
// pack as the coordinator assigns it (see worker/session.h). SIGINT/SIGTERM is a graceful
// leave: the worker asks the coordinator to release it (Leaving), serves its open sequences
// to their end, and exits when told to shut down, after --drain-timeout-s at the latest, or
// at once on a second signal. Exits 0 then, 1 with a one-line error when it cannot start or
// is refused.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/backend/backend_factory.h"
#include "common/cluster/cluster_token.h"
#include "common/cluster/drain_timeout.h"
#include "common/cluster/stop_signals.h"
#include "common/cluster/tls_files.h"
#include "common/cluster/pack_identity.h"
#include "common/loader/model_directory.h"
#include "common/metrics/metrics_server.h"
#include "common/engine/pack_placement.h"
#include "common/transport/transport_factory.h"
#include "common/util/byte_size.h"
#include "worker/self_bench.h"
#include "worker/session.h"
#include "worker/worker_metrics.h"

namespace {

constexpr int kDefaultMetricsPort = 9401;  // GET /metrics, on the data host unless told

struct Flags {
  std::string coordinator = "127.0.0.1:7070";
  std::string model;
  std::string backend = "cpu";
  bool fp8_activations = false;
  bool verify_streamed = strata::kVerifyStreamedByDefault;
  bool spare = false;
  std::string token_file;
  std::string name;
  std::string gpu_mem = "0";
  std::string pinned_mem = "0";
  // This worker's cluster address: what the previous stage connects to, and by default where
  // the data plane and the metrics listen.
  std::string data_host = strata::transport::LinkSettings{}.advertised_host;
  std::string data_bind;  // empty: data_host
  uint16_t data_port = 0;
  double link_timeout_s = 10;
  double drain_timeout_s = strata::cluster::kDefaultDrainTimeoutS;
  double ssd_gbps = 0, h2d_gbps = 0, decode_ms = 0, prefill_ms = 0;
  std::string metrics_address;  // empty: data_host, port kDefaultMetricsPort
  std::string tls_ca, tls_cert, tls_key;  // the control plane's TLS (any given: TLS on)
  pid_t parent_pid = 0;                   // 0: outlive the process that started this one
};

strata::Status RunWorker(const Flags& f) {
  using namespace strata;
  STRATA_ASSIGN_OR_RETURN(const std::chrono::milliseconds drain_timeout,
                          cluster::DrainTimeout(f.drain_timeout_s));
  // From here a signal waits for the waiter below (one during start-up stops it at once).
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<cluster::StopSignals> signals,
                          cluster::StopSignals::Install());
  if (f.parent_pid != 0) STRATA_RETURN_IF_ERROR(cluster::StopWithParent(f.parent_pid));
  STRATA_ASSIGN_OR_RETURN(std::string token, cluster::ReadTokenFile(f.token_file));
  STRATA_ASSIGN_OR_RETURN(size_t gpu_mem, ParseByteSize("--gpu-mem", f.gpu_mem));
  STRATA_ASSIGN_OR_RETURN(size_t pinned_mem, ParseByteSize("--pinned-mem", f.pinned_mem));
  STRATA_ASSIGN_OR_RETURN(const ModelDirectory model, OpenModelDirectory(f.model));
  if (!model.is_pack) {
    return InvalidArgument("--model " + f.model + " is a Hugging Face directory; a worker serves "
                           "a Strata pack: make one with `strata pack --model " + f.model +
                           " --out PACK_DIR`");
  }
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(f.model));
  // Listening before the self-benchmark, so a port in use fails at once and a launcher sees
  // the address early.
  const std::string metrics_address =
      !f.metrics_address.empty()
          ? f.metrics_address
          : (f.data_host.find(':') != std::string::npos ? "[" + f.data_host + "]" : f.data_host) +
                ":" + std::to_string(kDefaultMetricsPort);
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<metrics::MetricsServer> metrics_server,
                          metrics::MetricsServer::Start(metrics_address, "--metrics-address"));
  std::fprintf(stderr, "strata-worker: metrics listening on %s:%d\n",
               metrics_server->host().c_str(), metrics_server->port());
  std::fflush(stderr);
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, CreateBackend(f.backend, BackendOptions{f.fp8_activations}));
  STRATA_RETURN_IF_ERROR(CheckBackendRunsPack(*backend, pack.dtype(), f.model));

  worker::SessionOptions options;
  options.coordinator = f.coordinator;
  options.token = token;
  if (!f.tls_ca.empty() || !f.tls_cert.empty() || !f.tls_key.empty()) {
    if (f.tls_ca.empty()) {
      return InvalidArgument("--tls-cert and --tls-key need --tls-ca: the CA certificate that "
                             "verifies the coordinator's");
    }
    STRATA_ASSIGN_OR_RETURN(options.tls,
                            cluster::LoadTlsFiles("--tls", f.tls_cert, f.tls_key, f.tls_ca));
  }
  options.pack = cluster::IdentityOf(pack);
  STRATA_ASSIGN_OR_RETURN(options.capabilities,
                          worker::MeasureCapabilities(*backend, f.model, gpu_mem, pinned_mem));
  control::v1::Capabilities& caps = options.capabilities;
  caps.set_name(f.name.empty() ? f.data_host : f.name);
  if (f.ssd_gbps > 0) caps.set_ssd_gbps(f.ssd_gbps);
  if (f.h2d_gbps > 0) caps.set_h2d_gbps(f.h2d_gbps);
  if (f.decode_ms > 0) caps.set_decode_ms_per_layer(f.decode_ms);
  if (f.prefill_ms > 0) caps.set_prefill_ms_per_layer(f.prefill_ms);
  spdlog::info("worker {} on {}: SSD {:.2f} GB/s, H2D {:.2f} GB/s, decode {:.3f} ms/layer, "
               "prefill {:.3f} ms/layer ({} tokens)",
               caps.name(), caps.backend(), caps.ssd_gbps(), caps.h2d_gbps(),
               caps.decode_ms_per_layer(), caps.prefill_ms_per_layer(), caps.prefill_tokens());
  // The GPU budget as the placement reads --gpu-mem (0: a share of the device).
  const size_t device_bytes = backend->caps().memory_bytes;
  const size_t gpu_budget =
      gpu_mem != 0 || device_bytes == 0
          ? gpu_mem
          : static_cast<size_t>(static_cast<double>(device_bytes) * kDefaultGpuMemShare);
  worker::WorkerMetrics worker_metrics(metrics_server->registry(), caps.name(), *backend,
                                       device_bytes != 0 ? gpu_budget : 0);
  worker::WorkerCeilings ceilings;
  ceilings.disk_read_gbps = caps.ssd_gbps();
  ceilings.h2d_gbps = caps.h2d_gbps();
  if (Status st = worker::MeasureDeviceCeilings(*backend, pack.dtype() == PackDType::kFP8, ceilings);
      !st.ok()) {
    spdlog::warn("device ceilings not measured, left out of the metrics: {}", st.message());
  }
  worker_metrics.SetCeilings(ceilings);
  if (ceilings.hbm_read_gbps) {
    spdlog::info("device memory read {:.0f} GB/s, {} GEMM {:.0f} TFLOP/s", *ceilings.hbm_read_gbps,
                 ceilings.gemm_dtype, ceilings.gemm_tflops.value_or(0));
  }
  options.metrics = &worker_metrics;
  options.stage.pack_dir = f.model;
  options.stage.verify_streamed = f.verify_streamed;
  options.spare = f.spare;
  options.stage.link.advertised_host = f.data_host;
  options.stage.link.bind_host = f.data_bind.empty() ? f.data_host : f.data_bind;
  options.stage.link.port = f.data_port;
  options.stage.link.token = token;
  if (!(f.link_timeout_s >= 0.1 && f.link_timeout_s <= 3600)) {
    return InvalidArgument("--link-timeout-s must be from 0.1 to 3600 seconds");
  }
  options.stage.link.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(f.link_timeout_s * 1000));

  worker::WorkerSession session(*backend, std::move(options));
  // The first signal makes the session leave; the drain timeout or a second signal stops it.
  std::atomic<bool> finished{false};
  std::thread waiter([&] {
    const int sig = signals->Next();
    if (finished) return;
    spdlog::info("signal {}: leaving once the coordinator releases this worker (at most {:.1f} "
                 "s, --drain-timeout-s; at once on a second signal)",
                 sig, std::chrono::duration<double>(drain_timeout).count());
    session.Leave("signal " + std::to_string(sig));
    const int second = signals->Next(drain_timeout);
    if (finished) return;
    if (second != 0) {
      spdlog::warn("signal {}: stopping now", second);
    } else {
      spdlog::warn("not released within --drain-timeout-s: stopping now");
    }
    session.RequestStop();
  });
  const Status status = session.Run();
  finished = true;
  signals->Wake();  // the waiter, if it still waits
  waiter.join();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "strata-worker", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  CLI::App app{"strata-worker: serve a slice of a Llama model as the coordinator assigns it"};
  Flags f;
  app.add_option("--coordinator", f.coordinator, "Coordinator control address host:port")
      ->capture_default_str();
  app.add_option("--model", f.model, "This node's Strata pack (strata pack)")->required();
  app.add_option("--backend", f.backend, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_flag("--fp8-activations", f.fp8_activations,
               "CUDA, fp8 packs: prefill GEMMs in fp8 (W8A8) instead of W8A16");
  app.add_flag("--verify-streamed,!--no-verify-streamed", f.verify_streamed,
               "Check each streamed layer against the pack's checksum (default on); a mismatch "
               "or unreadable extent fails the step and stops this worker");
  app.add_flag("--spare", f.spare,
               "Register as a standby: the coordinator accepts it beyond its --workers and plans "
               "with it only when another worker is lost (then the interrupted requests resume "
               "on it)");
  app.add_option("--token-file", f.token_file, "File holding the cluster token")->required();
  app.add_option("--name", f.name, "Name in the coordinator's logs and errors (default: data host)");
  app.add_option("--gpu-mem", f.gpu_mem, "The worker's GPU budget: layers, staging, ends, KV cache, activations, workspace "
                 "(0: 90% of the device's memory)");
  app.add_option("--pinned-mem", f.pinned_mem, "Pinned host bytes (0: half the free memory)");
  app.add_option("--data-host", f.data_host,
                 "This worker's cluster address: the previous stage reaches it there, and the "
                 "data plane and metrics listen there unless --data-bind/--metrics-address say "
                 "otherwise")
      ->capture_default_str();
  app.add_option("--data-bind", f.data_bind,
                 "Address the data-plane receiver listens on (default: --data-host; 0.0.0.0: "
                 "every interface, e.g. behind NAT or in a pod)");
  app.add_option("--data-port", f.data_port, "Data-plane port (0: any free port)");
  app.add_option("--link-timeout-s", f.link_timeout_s,
                 "Data plane: connecting, joining an NCCL link, a send's completion")
      ->capture_default_str();
  app.add_option("--drain-timeout-s", f.drain_timeout_s,
                 "On SIGTERM: the most seconds to wait for the coordinator to release this "
                 "worker once its sequences finish (0: leave at once)")
      ->capture_default_str();
  app.add_option("--ssd-gbps", f.ssd_gbps, "Override the measured SSD read GB/s");
  app.add_option("--h2d-gbps", f.h2d_gbps, "Override the measured pinned -> GPU GB/s");
  app.add_option("--decode-ms", f.decode_ms, "Override the measured decode ms per layer");
  app.add_option("--prefill-ms", f.prefill_ms, "Override the measured prefill ms per layer");
  app.add_option("--metrics-address", f.metrics_address,
                 "GET /metrics (Prometheus) on HOST:PORT (port 0: any free port; default: "
                 "--data-host, port " + std::to_string(kDefaultMetricsPort) + ")");
  app.add_option("--tls-ca", f.tls_ca,
                 "Control plane over TLS: PEM CA certificate(s) that verify the coordinator's "
                 "certificate, which must name the host of --coordinator");
  app.add_option("--tls-cert", f.tls_cert,
                 "With --tls-ca: this worker's PEM certificate, for a coordinator that requires "
                 "client certificates (its --tls-ca)");
  app.add_option("--tls-key", f.tls_key, "The private key (PEM) of --tls-cert");
  app.add_option("--parent-pid", f.parent_pid, strata::cluster::kParentPidHelp);
  CLI11_PARSE(app, argc, argv);
  const strata::Status status = RunWorker(f);
  if (!status.ok()) {
    std::fprintf(stderr, "strata-worker: error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
