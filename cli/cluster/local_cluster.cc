// The local cluster launcher (see local_cluster.h).
#include "cli/cluster/local_cluster.h"

#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "cli/cluster/child_process.h"
#include "cli/cluster/worker_supervisor.h"
#include "common/cluster/stop_signals.h"
#include "common/storage/durable_file.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "common/util/file.h"
#include "common/util/secret.h"
#include "common/util/temp_root.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;
constexpr char kPidFile[] = "launcher.pid";
// How often the serving launcher checks its processes (and so how late a restart may be).
constexpr std::chrono::milliseconds kSuperviseInterval{100};

// The directory of this executable, for finding the cluster binaries beside it.
fs::path SelfDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

// `name` beside this binary, in the build tree's sibling folder, or on PATH.
StatusOr<std::string> FindBinary(const std::string& name, const std::string& build_folder) {
  const fs::path dir = SelfDir();
  for (const fs::path& p : {dir / name, dir.parent_path() / build_folder / name}) {
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  if (const char* path = std::getenv("PATH")) {
    std::string rest = path;
    for (size_t start = 0; start <= rest.size();) {
      const size_t end = std::min(rest.find(':', start), rest.size());
      const fs::path p = fs::path(rest.substr(start, end - start)) / name;
      if (!p.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
      start = end + 1;
    }
  }
  return NotFound(name + " not found beside " + dir.string() + " or on PATH; build it (scripts/build) or install it");
}

// The pack to serve of `model`: itself, or a pack of it in the run directory named `name`
// (made once, in o.dtype).
StatusOr<std::string> EnsurePack(const LocalClusterOptions& o, const std::string& model,
                                 const std::string& name) {
  if (Pack::Open(model).ok()) return model;
  if (!fs::exists(fs::path(model) / "config.json")) {
    return InvalidArgument(model + " is neither a Strata pack nor a Hugging Face model directory "
                           "(no manifest.json, no config.json)");
  }
  const std::string dir = (fs::path(o.run_dir) / (name + "-" + o.dtype)).string();
  const std::string source = fs::absolute(model).lexically_normal().string();
  StatusOr<Pack> existing = Pack::Open(dir);
  if (existing.ok() && fs::path(existing->source()).lexically_normal() == source &&
      std::string(PackDTypeName(existing->dtype())) == o.dtype) {
    return dir;
  }
  std::fprintf(stderr, "strata cluster: packing %s into %s (%s)\n", model.c_str(), dir.c_str(),
               o.dtype.c_str());
  PackOptions po;
  po.model_dir = model;
  po.out_dir = dir;
  po.dtype = *ParsePackDType(o.dtype);
  po.force = true;
  STRATA_RETURN_IF_ERROR(WritePack(po).status());
  return dir;
}

// A process that exited but was not reaped (a zombie, state Z in /proc/PID/stat: its parent
// does not wait for it) counts as gone.
bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");  // its size reads as 0: stream it
  std::string stat;
  std::getline(in, stat);
  const size_t name_end = stat.rfind(')');  // the name in parentheses may hold anything
  return name_end == std::string::npos || name_end + 2 >= stat.size() || stat[name_end + 2] != 'Z';
}

StatusOr<pid_t> ReadPidFile(const std::string& run_dir) {
  StatusOr<std::string> text = ReadFileToString((fs::path(run_dir) / kPidFile).string());
  if (!text.ok()) return text.status();
  return static_cast<pid_t>(std::atol(text->c_str()));
}

// `count` distinct free loopback ports, none of them in `taken` (FreeLoopbackPort may hand
// back a port it returned a moment ago).
StatusOr<std::vector<int>> FreeLoopbackPorts(size_t count, std::set<int> taken) {
  std::vector<int> ports;
  for (int attempt = 0; ports.size() < count; ++attempt) {
    if (attempt > 1000) return Internal("cannot find enough free ports on 127.0.0.1");
    STRATA_ASSIGN_OR_RETURN(const int port, FreeLoopbackPort());
    if (taken.insert(port).second) ports.push_back(port);
  }
  return ports;
}

Status ChildDied(const ChildProcess& c) {
  return Unavailable(c.name() + " " + c.exit_description() + " before the cluster was ready; the end of " +
                     c.log_path() + ":\n" + LogTail(c.log_path(), 15));
}

}  // namespace

StatusOr<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal("cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) return Internal("cannot find a free port on 127.0.0.1");
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string PrometheusConfig(const std::vector<MetricsTarget>& targets) {
  std::string yml =
      "# Written by `strata cluster up`: scrapes the coordinator and every worker of this run.\n"
      "#   prometheus --config.file=prometheus.yml --storage.tsdb.path=DIR\n"
      "# dashboards/ holds Grafana dashboards for these metrics.\n"
      "global:\n"
      "  scrape_interval: 1s\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: strata\n"
      "    honor_labels: true\n"
      "    static_configs:\n";
  for (const MetricsTarget& t : targets) {
    yml += "      - targets: ['" + t.address + "']\n        labels:\n          role: " + t.role + "\n";
    if (!t.worker.empty()) yml += "          worker: " + t.worker + "\n";
  }
  return yml;
}

std::string DefaultRunDir() {
  if (const char* d = std::getenv("STRATA_RUN_DIR"); d != nullptr && *d != '\0') return d;
  return (fs::path(TempRoot()) / ("strata-cluster-" + std::to_string(::getuid()))).string();
}

namespace {

// "cuda:0,cuda:1" -> {"cuda:0", "cuda:1"}; worker i takes entry i modulo the count. An empty
// list stays empty (the flag is not passed).
StatusOr<std::vector<std::string>> SplitPerWorker(const std::string& list, const std::string& flag,
                                                  const std::string& entries) {
  std::vector<std::string> values;
  if (list.empty() && flag != "--backend") return values;
  size_t begin = 0;
  for (;;) {
    const size_t comma = list.find(',', begin);
    values.push_back(list.substr(begin, comma == std::string::npos ? comma : comma - begin));
    if (values.back().empty()) {
      return InvalidArgument(flag + " '" + list + "' has an empty entry; give " + entries +
                             " or a comma-separated list of them (one per worker, in turn)");
    }
    if (comma == std::string::npos) return values;
    begin = comma + 1;
  }
}

// Stops the cluster gracefully: SIGTERM to the coordinator, which drains (its
// --drain-timeout-s) and tells the workers to leave; a further signal to the launcher is passed
// on (the coordinator then stops at once); after kCoordinatorStopGrace it is killed. Then the
// workers still running are stopped together within kWorkerStopGrace.
void StopCluster(ChildProcess& coordinator, WorkerSupervisor& workers,
                 cluster::StopSignals& signals) {
  coordinator.Terminate();
  const auto deadline = std::chrono::steady_clock::now() + kCoordinatorStopGrace;
  while (coordinator.Running() && std::chrono::steady_clock::now() < deadline) {
    if (signals.Next(std::chrono::milliseconds(50)) != 0) {
      std::fprintf(stderr, "strata cluster: signalled again: the coordinator stops without "
                           "waiting for its requests\n");
      coordinator.Signal(SIGTERM);
    }
  }
  coordinator.Stop(std::chrono::milliseconds(0));
  StopTogether(workers.processes(), kWorkerStopGrace);
}

// Until the coordinator answers GET /ready with 200. Errors: a process exited (with the tail
// of its log), every plan's assignment failed, not ready within the timeout, a signal.
Status WaitReady(const LocalClusterOptions& o, ChildProcess& coordinator, WorkerSupervisor& workers,
                 cluster::StopSignals& signals) {
  httplib::Client client("127.0.0.1", o.http_port);
  client.set_connection_timeout(std::chrono::seconds(1));
  const auto deadline = std::chrono::steady_clock::now() + o.ready_timeout;
  std::set<uint64_t> failed_epochs;  // plans whose assignment a worker could not carry out
  for (;;) {
    if (!coordinator.Running()) return ChildDied(coordinator);
    if (ChildProcess* dead = workers.FirstExited()) return ChildDied(*dead);
    if (httplib::Result r = client.Get("/ready"); r && r->status == 200) {
      return OkStatus();
    } else if (r) {
      // The coordinator re-plans after a failed assignment; failing again under a new plan
      // is not going to pass (out of memory, two NCCL stages on one GPU): stop and say why.
      const nlohmann::json ready_json = nlohmann::json::parse(r->body, nullptr, false);
      const std::string error = ready_json.is_object() ? ready_json.value("reason", "") : "";
      if (error.find("assignment failed") != std::string::npos) {
        failed_epochs.insert(ready_json.value("epoch", uint64_t{0}));
        if (failed_epochs.size() >= 2) {
          return FailedPrecondition("the cluster cannot start: " + error + "; logs in " +
                                    o.run_dir);
        }
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Unavailable("the cluster was not ready within " +
                         std::to_string(o.ready_timeout.count()) + " s; see the logs in " +
                         o.run_dir);
    }
    if (signals.Next(std::chrono::milliseconds(200)) != 0) {
      return Unavailable("interrupted before the cluster was ready");
    }
  }
}

// The cluster serves: workers are restarted as they exit, until a signal (the cluster is
// stopped) or the coordinator's exit (the workers are stopped). The coordinator's exit code.
int Serve(ChildProcess& coordinator, WorkerSupervisor& workers, cluster::StopSignals& signals) {
  for (;;) {
    if (const int signal = signals.Next(kSuperviseInterval); signal != 0) {
      std::printf("strata cluster: stopping (signal %d): the coordinator drains its requests "
                  "(its --drain-timeout-s), then the workers stop; signal again to stop at once\n",
                  signal);
      std::fflush(stdout);
      StopCluster(coordinator, workers, signals);
      return coordinator.exit_code();
    }
    if (!coordinator.Running()) {
      std::fprintf(stderr, "strata cluster: the coordinator %s; stopping the workers. The end of "
                           "%s:\n%s",
                   coordinator.exit_description().c_str(), coordinator.log_path().c_str(),
                   LogTail(coordinator.log_path(), 15).c_str());
      StopTogether(workers.processes(), kWorkerStopGrace);
      return coordinator.exit_code();
    }
    workers.Supervise(std::chrono::steady_clock::now());
  }
}

}  // namespace

StatusOr<int> RunLocalCluster(const LocalClusterOptions& o) {
  if (o.workers < 1) return InvalidArgument("--workers must be at least 1");
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> backends,
                          SplitPerWorker(o.backend, "--backend", "cpu, cuda, cuda:N"));
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> gpu_mems,
                          SplitPerWorker(o.worker_gpu_mem, "--gpu-mem", "a size (14G)"));
  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string> pinned_mems,
                          SplitPerWorker(o.worker_pinned_mem, "--pinned-mem", "a size (48G)"));
  std::error_code ec;
  fs::create_directories(o.run_dir, ec);
  if (ec) return ErrnoError("cannot create run directory", o.run_dir, ec.value());
  if (StatusOr<pid_t> pid = ReadPidFile(o.run_dir); pid.ok() && ProcessAlive(*pid) && *pid != ::getpid()) {
    return FailedPrecondition("a cluster launched from " + o.run_dir + " is running (pid " +
                              std::to_string(*pid) + "); stop it with `strata cluster down` first");
  }
  STRATA_ASSIGN_OR_RETURN(std::string coordinator_bin, FindBinary("strata-coordinator", "coordinator"));
  STRATA_ASSIGN_OR_RETURN(std::string worker_bin, FindBinary("strata-worker", "worker"));
  STRATA_ASSIGN_OR_RETURN(std::string pack, EnsurePack(o, o.model, "pack"));
  std::string draft_pack;
  if (!o.draft_model.empty()) {
    STRATA_ASSIGN_OR_RETURN(draft_pack, EnsurePack(o, o.draft_model, "draft-pack"));
  }
  const std::string token_file = (fs::path(o.run_dir) / "token").string();
  STRATA_RETURN_IF_ERROR(WriteFileDurably(token_file, RandomSecret() + "\n"));
  fs::permissions(token_file, fs::perms::owner_read | fs::perms::owner_write, ec);
  // The control port, then the coordinator's and each worker's metrics port.
  STRATA_ASSIGN_OR_RETURN(const std::vector<int> ports,
                          FreeLoopbackPorts(2 + static_cast<size_t>(o.workers), {o.http_port}));
  const std::string control = "127.0.0.1:" + std::to_string(ports[0]);
  const std::string http = "127.0.0.1:" + std::to_string(o.http_port);
  std::vector<MetricsTarget> metrics = {{"127.0.0.1:" + std::to_string(ports[1]), "coordinator", ""}};
  for (int32_t i = 0; i < o.workers; ++i) {
    metrics.push_back({"127.0.0.1:" + std::to_string(ports[2 + static_cast<size_t>(i)]), "worker",
                       "worker-" + std::to_string(i)});
  }
  const std::string prometheus_yml = (fs::path(o.run_dir) / "prometheus.yml").string();
  STRATA_RETURN_IF_ERROR(WriteFileDurably(prometheus_yml, PrometheusConfig(metrics)));

  // SIGINT and SIGTERM through a handler and a pipe, not a blocked mask: threads that libraries
  // start before main (OpenBLAS's pool) would take a process-directed signal (stop_signals.h).
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<cluster::StopSignals> signals,
                          cluster::StopSignals::Install());
  STRATA_RETURN_IF_ERROR(WriteFileDurably((fs::path(o.run_dir) / kPidFile).string(),
                                          std::to_string(::getpid()) + "\n"));
  std::vector<std::string> coordinator_argv = {
      coordinator_bin, "--model", pack, "--http", http, "--control", control, "--workers",
      std::to_string(o.workers), "--token-file", token_file, "--kv-slots",
      std::to_string(o.limits.kv_slots), "--max-batch-tokens",
      std::to_string(o.limits.max_batch_tokens), "--max-seq-len",
      std::to_string(o.limits.max_seq_len),
      "--transport", o.transport, "--metrics-address", metrics[0].address,
      "--parent-pid", std::to_string(::getpid())};
  if (!o.api_key_file.empty()) {
    coordinator_argv.insert(coordinator_argv.end(), {"--api-key-file", o.api_key_file});
  }
  for (const std::string& name : o.served_model_names) {
    coordinator_argv.insert(coordinator_argv.end(), {"--served-model-name", name});
  }
  if (!draft_pack.empty()) {
    coordinator_argv.insert(coordinator_argv.end(),
                            {"--draft-model", draft_pack, "--draft-branch",
                             std::to_string(o.draft_branch)});
  }
  if (!o.speculative.empty()) {
    coordinator_argv.insert(coordinator_argv.end(), {"--speculative", o.speculative});
  }
  if (o.link_gbps > 0) {
    coordinator_argv.insert(coordinator_argv.end(),
                            {"--link-gbps", std::to_string(o.link_gbps), "--link-latency-ms",
                             std::to_string(o.link_latency_ms)});
  }
  StatusOr<ChildProcess> coordinator =
      ChildProcess::Start(coordinator_argv, (fs::path(o.run_dir) / "coordinator.log").string());
  if (!coordinator.ok()) {
    fs::remove(fs::path(o.run_dir) / kPidFile, ec);
    return coordinator.status();
  }
  RestartLimits restart_limits;
  restart_limits.max_restarts = o.max_restarts;
  WorkerSupervisor workers(restart_limits);
  Status status;
  for (int32_t i = 0; status.ok() && i < o.workers; ++i) {
    const MetricsTarget& m = metrics[1 + static_cast<size_t>(i)];
    std::vector<std::string> argv = {worker_bin, "--coordinator", control, "--model", pack,
                                     "--token-file", token_file, "--name", m.worker, "--backend",
                                     backends[static_cast<size_t>(i) % backends.size()],
                                     "--metrics-address", m.address,
                                     "--parent-pid", std::to_string(::getpid())};
    if (o.fp8_activations) argv.push_back("--fp8-activations");
    const size_t n = static_cast<size_t>(i);
    if (!gpu_mems.empty()) argv.insert(argv.end(), {"--gpu-mem", gpu_mems[n % gpu_mems.size()]});
    if (!pinned_mems.empty()) {
      argv.insert(argv.end(), {"--pinned-mem", pinned_mems[n % pinned_mems.size()]});
    }
    status = workers.Start(m.worker, argv,
                           (fs::path(o.run_dir) / ("worker-" + std::to_string(i) + ".log")).string());
  }

  if (status.ok()) status = WaitReady(o, *coordinator, workers, *signals);
  int exit_code = 0;
  if (status.ok()) {
    std::string worker_metrics;
    for (size_t i = 1; i < metrics.size(); ++i) {
      worker_metrics += (i > 1 ? ", " : "") + metrics[i].address;
    }
    std::printf("strata cluster: ready with %d worker%s\n  API      http://%s  (POST /v1/chat/completions, /v1/completions; GET /v1/models, /ready)\n"
                "  control  %s\n  metrics  http://%s/metrics (coordinator); workers %s\n"
                "           prometheus --config.file=%s  (dashboards/ for Grafana)\n"
                "  logs     %s\nstop with Ctrl-C or `strata cluster down`\n",
                o.workers, o.workers == 1 ? "" : "s", http.c_str(), control.c_str(),
                metrics[0].address.c_str(), worker_metrics.c_str(), prometheus_yml.c_str(),
                o.run_dir.c_str());
    std::fflush(stdout);
    exit_code = Serve(*coordinator, workers, *signals);
  } else {
    StopCluster(*coordinator, workers, *signals);
  }
  fs::remove(fs::path(o.run_dir) / kPidFile, ec);
  if (!status.ok()) return status;
  return exit_code;
}

Status StopLocalCluster(const std::string& run_dir, std::chrono::seconds timeout) {
  StatusOr<pid_t> pid = ReadPidFile(run_dir);
  if (!pid.ok() || !ProcessAlive(*pid)) {
    return NotFound("no cluster is running from " + run_dir + " (no live launcher.pid)");
  }
  ::kill(*pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ProcessAlive(*pid)) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Unavailable("the launcher (pid " + std::to_string(*pid) + ") did not stop within " +
                         std::to_string(timeout.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return OkStatus();
}

}  // namespace strata::cli
