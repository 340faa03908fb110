// `strata cluster up`: a whole cluster on this machine — packs the model if it is a Hugging
// Face directory, writes a fresh cluster token, starts strata-coordinator and N
// strata-workers as child processes (logs in the run directory), each serving Prometheus
// metrics on a free loopback port, writes a prometheus.yml that scrapes them all into the run
// directory, waits until the coordinator reports ready and prints the endpoints. Then it
// supervises: a worker that exits is restarted under its name (WorkerSupervisor, bounded by
// --max-restarts); when the coordinator exits the workers are stopped and the launcher exits
// with the coordinator's status; SIGINT/SIGTERM (which `strata cluster down` sends) stop
// everything gracefully (the coordinator drains first). Thread-safety: one launcher per run
// directory (a pid file guards it).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cli/cluster/restart_policy.h"
#include "common/cluster/drain_timeout.h"
#include "common/serving/serving_limits.h"
#include "common/util/status.h"
#include "common/serving/speculation.h"

namespace strata::cli {

// Stopping: the coordinator has its default --drain-timeout-s (`cluster up` passes none) plus a
// margin before it is killed; the workers still running then have kWorkerStopGrace together
// (SIGTERM, then SIGKILL); `cluster down` waits for all of it.
inline constexpr std::chrono::seconds kWorkerStopGrace{10};
inline constexpr std::chrono::seconds kCoordinatorStopGrace{
    static_cast<int64_t>(cluster::kDefaultDrainTimeoutS) + 10};
inline constexpr std::chrono::seconds kLauncherStopTimeout =
    kCoordinatorStopGrace + kWorkerStopGrace + std::chrono::seconds(10);

struct LocalClusterOptions {
  std::string model;        // a Strata pack or a Hugging Face directory
  int32_t workers = 2;
  int32_t http_port = 8000;
  std::string backend = "cpu";  // a backend, or a comma-separated list taken in turn by worker
  std::string transport = "ucx";  // the data plane: ucx or nccl
  bool fp8_activations = false;   // workers: W8A8 prefill for fp8 packs
  double link_gbps = 0;           // the hop, for the plan's predictions (0: not modelled)
  double link_latency_ms = 0;
  std::string dtype = "bf16";   // when packing
  std::string run_dir;          // logs, token, pid file, packs made here
  ServingLimits limits;  // passed to the coordinator
  // The workers' --gpu-mem and --pinned-mem: one size, or a comma-separated list taken in turn
  // like `backend`; empty: not passed (the worker's default).
  std::string worker_gpu_mem;
  std::string worker_pinned_mem;
  std::string api_key_file;                     // empty: the API takes no key
  std::vector<std::string> served_model_names;  // empty: the checkpoint directory's name
  // Speculative decoding: a draft model (pack or Hugging Face directory, packed once), the
  // coordinator's --speculative (empty: its default) and --draft-branch.
  std::string draft_model;
  std::string speculative;
  int32_t draft_branch = kDefaultDraftBranch;
  std::chrono::seconds ready_timeout{600};
  int32_t max_restarts = RestartLimits{}.max_restarts;  // per worker, within RestartLimits::window
};

// Runs until a signal or the coordinator's exit; then the coordinator's exit code (128 + the
// signal that killed it), 0 after a clean stop. Errors: a cluster already running from the run
// directory, binaries not found, packing, a process that exits before the cluster is ready
// (with the tail of its log), not ready within the timeout.
StatusOr<int> RunLocalCluster(const LocalClusterOptions& options);

// One process's metrics endpoint, for prometheus.yml.
struct MetricsTarget {
  std::string address;  // HOST:PORT
  std::string role;     // coordinator or worker
  std::string worker;   // the worker's --name; empty for the coordinator
};

// A Prometheus configuration scraping `targets` every second (one job, `strata`; each target
// labelled `role` and, for workers, `worker`; honor_labels so the workers' own `worker`
// label is kept as it is).
std::string PrometheusConfig(const std::vector<MetricsTarget>& targets);

// Stops the launcher of `run_dir` and waits for it (up to `timeout`: kLauncherStopTimeout).
Status StopLocalCluster(const std::string& run_dir, std::chrono::seconds timeout);

// A TCP port on 127.0.0.1 nobody listens on right now (bound and released; another process
// may take it in the short window before it is used).
StatusOr<int> FreeLoopbackPort();

// The default run directory: $STRATA_RUN_DIR, else strata-cluster-<uid> under TempRoot().
std::string DefaultRunDir();

}  // namespace strata::cli
