// A real cluster for tests: strata-coordinator and N strata-workers as processes (started
// with the launcher's ChildProcess, logs in a temporary directory) on the tiny fixture's
// pack, with helpers to wait until it serves, to post completions and to start a worker
// again under its name.
// Thread-safety: one thread starts and stops a cluster; Complete may run concurrently.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/cluster/child_process.h"
#include "cli/cluster/local_cluster.h"
#include "common/model/forward_memory.h"
#include "common/plan/placement.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {

inline int FreeTcpPort() {
  StatusOr<int> port = cli::FreeLoopbackPort();
  EXPECT_TRUE(port.ok()) << port.status().ToString();
  return port.ok() ? *port : 0;
}

// POST /v1/completions to the API on 127.0.0.1:`port`; the status code (0: no answer) and the
// parsed body.
inline std::pair<int, nlohmann::json> PostCompletion(int port, const nlohmann::json& request) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(std::chrono::seconds(120));
  httplib::Result r = client.Post("/v1/completions", request.dump(), "application/json");
  if (!r) return {0, nlohmann::json()};
  return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
}

// The fixture packed once per test process.
inline const std::string& FixturePackDir() {
  static TempDir dir("cluster_pack");
  static const std::string pack = [] {
    PackOptions o;
    o.model_dir = TinyModelDir();
    o.out_dir = dir.File("pack");
    EXPECT_TRUE(WritePack(o).ok());
    return o.out_dir;
  }();
  return pack;
}

// Flags for the worker of stage `stage` of `stages` equal stages on `pack` (a CPU worker plans
// against --gpu-mem as if it were GPU memory): room for its stage's runtime, the LM head on
// the last stage and one streaming slot but not a resident layer beside them, and pinned
// memory for the staging ring and the host embedding's gather buffer but no pinned layer — so
// every layer of the stage streams on every pass (from the pack; the planner may pin a stage
// whose layers all fit the ring's room instead, as it did stage 0 of 2). The sizes follow the
// planner's own arithmetic under the harness's limits (kv slots, batch tokens, sequence).
inline std::vector<std::string> StreamEveryLayer(const Pack& pack, int32_t stages, int32_t stage) {
  const ServingLimits limits{.max_batch_tokens = 64, .max_seq_len = 256, .kv_slots = 4};
  ModelConfig config = pack.config();
  config.num_layers /= stages;
  const size_t slot = pack.layer_extent(0).bytes;
  const size_t head = stage + 1 == stages
                          ? pack.lm_head_extent().bytes + pack.final_norm_extent().bytes
                          : 0;
  return {"--gpu-mem", std::to_string(ForwardDeviceBytes(config, limits) + head + slot + slot / 2),
          "--pinned-mem", std::to_string(kStagingChunkBytes +
                                         ForwardPinnedBytes(config, limits, true) + slot / 2)};
}

// The most tokens a generation may ask for within the harness's --max-seq-len (256) after a
// short prompt: long enough to be still running while a test acts.
inline constexpr int kLongTokens = 240;

struct ClusterLayout {
  int workers = 2;
  std::string coordinator_host = "127.0.0.1";  // control and HTTP bind address
  // Per worker: a command prefix (e.g. {"ip", "netns", "exec", "ns0"}) and its data host.
  std::vector<std::vector<std::string>> worker_prefix;
  std::vector<std::string> worker_data_host;
  std::string worker_token;  // empty: the cluster's
  int kv_slots = 4;
  std::vector<std::string> coordinator_args;  // more flags for the coordinator
  std::string pack;                           // empty: FixturePackDir()
  std::vector<std::vector<std::string>> worker_args;  // per worker: more flags
};

class TestCluster {
 public:
  explicit TestCluster(const ClusterLayout& layout) : layout_(layout), dir_("cluster") {
    token_file_ = dir_.File("token");
    WriteText(token_file_, "test-cluster-token\n");
    // Port 0 for both: the coordinator picks free ports and prints them (no race with
    // other tests picking the same "free" port).
    std::vector<std::string> argv = {
        STRATA_COORDINATOR_PATH, "--model", pack(), "--http", "127.0.0.1:0",
        "--control", layout.coordinator_host + ":0", "--metrics-address", "127.0.0.1:0",
        "--workers", std::to_string(layout.workers), "--token-file", token_file_,
        "--kv-slots", std::to_string(layout.kv_slots), "--max-batch-tokens", "64",
        "--max-seq-len", "256"};
    argv.insert(argv.end(), layout.coordinator_args.begin(), layout.coordinator_args.end());
    Start(argv, "coordinator.log");
    http_port_ = PrintedPort("http");
    control_ = layout.coordinator_host + ":" + std::to_string(PrintedPort("control"));
    worker_token_ = token_file_;
    if (!layout.worker_token.empty()) {
      worker_token_ = dir_.File("worker_token");
      WriteText(worker_token_, layout.worker_token + "\n");
    }
    for (int i = 0; i < layout.workers; ++i) StartWorker(i);
  }

  // Starts worker i ("worker-<i>"), again if it ran before (a restart under its name); its log
  // gets a suffix per start. The new process is the last of children().
  void StartWorker(int i) {
    std::vector<std::string> argv;
    if (i < static_cast<int>(layout_.worker_prefix.size())) argv = layout_.worker_prefix[i];
    const std::string data_host = i < static_cast<int>(layout_.worker_data_host.size())
                                      ? layout_.worker_data_host[i]
                                      : "127.0.0.1";
    for (const std::string& a :
         {std::string(STRATA_WORKER_PATH), std::string("--coordinator"), control_,
          std::string("--model"), pack(), std::string("--token-file"), worker_token_,
          std::string("--name"), "worker-" + std::to_string(i), std::string("--data-host"),
          data_host, std::string("--data-bind"), data_host, std::string("--metrics-address"),
          std::string("127.0.0.1:0")}) {
      argv.push_back(a);
    }
    if (i < static_cast<int>(layout_.worker_args.size())) {
      argv.insert(argv.end(), layout_.worker_args[i].begin(), layout_.worker_args[i].end());
    }
    const int starts = ++worker_starts_[i];
    Start(argv, "worker-" + std::to_string(i) + (starts > 1 ? "." + std::to_string(starts) : "") +
                    ".log");
  }

  ~TestCluster() {
    for (auto it = children_.rbegin(); it != children_.rend(); ++it) it->Stop(std::chrono::seconds(10));
  }

  // True once /ready answers 200 (/health is liveness only); false after `timeout` or when a
  // process exits (logged).
  bool WaitReady(std::chrono::seconds timeout) {
    httplib::Client client("127.0.0.1", http_port_);
    client.set_connection_timeout(std::chrono::seconds(1));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (cli::ChildProcess& c : children_) {
        if (!c.Running()) {
          ADD_FAILURE() << c.name() << " " << c.exit_description() << "\n" << Logs();
          return false;
        }
      }
      if (httplib::Result r = client.Get("/ready"); r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "cluster not ready\n" << Logs();
    return false;
  }

  // POST /v1/completions; returns the status code and the parsed body.
  std::pair<int, nlohmann::json> Complete(const nlohmann::json& request) const {
    return PostCompletion(http_port_, request);
  }

  // GET /v1/cluster's body (the cluster's state: workers, plan, `pipeline_passes`), or null.
  nlohmann::json ClusterState() const {
    httplib::Client client("127.0.0.1", http_port_);
    httplib::Result r = client.Get("/v1/cluster");
    return r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
  }
  // A number of GET /v1/cluster (`open_sequences`, `queued_requests`, ...); -1 if absent.
  int64_t Field(const char* name) const {
    const nlohmann::json state = ClusterState();
    return state.is_object() && state.contains(name) ? state[name].get<int64_t>() : -1;
  }

  int http_port() const { return http_port_; }
  // The coordinator's /metrics text (Prometheus exposition).
  std::string CoordinatorMetrics() {
    httplib::Client client("127.0.0.1", PrintedPort("metrics"));
    httplib::Result r = client.Get("/metrics");
    return r && r->status == 200 ? r->body : "";
  }
  const std::string& control() const { return control_; }  // the coordinator's HOST:PORT
  const std::string& pack() const {
    return layout_.pack.empty() ? FixturePackDir() : layout_.pack;
  }
  std::vector<cli::ChildProcess>& children() { return children_; }  // [0] the coordinator
  std::string Logs() const {
    std::string all;
    for (const cli::ChildProcess& c : children_) {
      all += "--- " + c.log_path() + "\n" + cli::LogTail(c.log_path(), 60);
    }
    return all;
  }

 private:
  static void WriteText(const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  // The port the coordinator printed for `what` ("http", "control" or "metrics"), read from
  // its log.
  int PrintedPort(const std::string& what) {
    const std::string key = "strata-coordinator: " + what + " listening on ";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline && !children_.empty() &&
           children_[0].Running()) {
      std::ifstream in(children_[0].log_path());
      for (std::string line; std::getline(in, line);) {
        if (line.find(key) != std::string::npos) return std::stoi(line.substr(line.rfind(':') + 1));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "the coordinator printed no " << what << " port\n" << Logs();
    return 0;
  }

  void Start(const std::vector<std::string>& argv, const std::string& log) {
    StatusOr<cli::ChildProcess> c = cli::ChildProcess::Start(argv, dir_.File(log));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    children_.push_back(std::move(c).value());
  }

  const ClusterLayout layout_;
  TempDir dir_;
  std::string token_file_;
  std::string worker_token_;
  std::string control_;  // the coordinator's control address
  std::map<int, int> worker_starts_;  // by worker index
  int http_port_ = 0;
  std::vector<cli::ChildProcess> children_;
};

}  // namespace strata::testing
