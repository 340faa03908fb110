// WorkerSession: the worker's side of the control protocol (common/proto/strata_control.proto).
// It connects to the coordinator (retrying until it answers), registers, and then follows
// the coordinator: loads the assigned slice (Stage), connects the data plane, opens and closes
// sequences, and runs the compute loop on its own thread — Steps from the coordinator on the
// first stage, activations from the previous stage on the others — reporting sampled tokens
// (last stage) or failures. A heartbeat thread keeps the coordinator informed. A session that
// ends (coordinator restart, network) drops the stage and reconnects; a refusal ends Run.
// Leave asks the coordinator to release the worker (Leaving) and keeps serving until its
// Shutdown comes; a leaving worker does not reconnect.
// Thread-safety: Run on one thread; Leave and RequestStop from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/backend/backend.h"
#include "common/cluster/tls_files.h"
#include "common/proto/strata_control.grpc.pb.h"
#include "worker/stage.h"
#include "worker/worker_metrics.h"

namespace strata::worker {

struct SessionOptions {
  std::string coordinator;  // "host:port"
  std::string token;
  // The control plane's TLS: ca verifies the coordinator (whose certificate must name the host
  // of `coordinator`), cert and key are this worker's own for mutual TLS. None: plain text.
  std::optional<cluster::TlsPems> tls;
  control::v1::Capabilities capabilities;
  control::v1::PackIdentity pack;
  bool spare = false;  // register as a standby (--spare)
  StageOptions stage;
  WorkerMetrics* metrics = nullptr;  // outlives the session; null: none kept
};

class WorkerSession {
 public:
  WorkerSession(Backend& backend, SessionOptions options);
  ~WorkerSession();

  // Until the coordinator sends Shutdown or RequestStop (OK), or refuses the worker
  // (kFailedPrecondition with its reason).
  Status Run();
  void RequestStop();
  // Sends Leaving (`reason` for the coordinator's log) and serves on until the coordinator's
  // Shutdown; Run then returns OK. Without a session it stops at once.
  void Leave(const std::string& reason);

 private:
  using Stream = grpc::ClientReaderWriter<control::v1::WorkerMessage, control::v1::CoordinatorMessage>;

  // One connected session; returns why it ended.
  Status RunOnce(control::v1::Coordinator::Stub& stub);
  void Handle(const control::v1::CoordinatorMessage& message);
  void Write(const control::v1::WorkerMessage& message);
  void StartCompute();
  void StopCompute();
  void ComputeLoop();
  void Report(const StepOutput& out);
  // True (and the session marked faulted) when `status` is a fault of this worker's own data:
  // kDataLoss, a pack extent unreadable or not matching its checksum.
  bool NoteFault(const Status& status);
  // Drops the stage (the compute thread stopped) and its metrics.
  void DropStage();
  // The compute thread copies its stage's link counters here after each step; heartbeats
  // carry them (the stage itself may be replaced under the heartbeat thread).
  void PublishLinkStats(const Stage* stage);
  void HeartbeatLoop();

  Backend& backend_;
  SessionOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> leaving_{false};  // Leave was called: no reconnecting
  bool shutdown_ = false;
  // A step failed on this worker's own data (kDataLoss: a streamed extent unreadable or not
  // matching its checksum): reported with worker_fault, after which the session ends and Run
  // returns `fault_` instead of reconnecting, so the worker never serves wrong numbers.
  std::atomic<bool> faulted_{false};
  Status fault_;  // set by the compute thread before faulted_

  std::mutex write_mu_;
  Stream* stream_ = nullptr;  // the live session's stream, guarded by write_mu_
  grpc::ClientContext* context_ = nullptr;

  std::unique_ptr<Stage> stage_;
  std::atomic<uint64_t> epoch_{0};
  std::thread compute_;
  std::atomic<bool> compute_stop_{false};
  std::mutex steps_mu_;
  std::condition_variable steps_cv_;
  std::deque<control::v1::Step> steps_;  // first stage: Steps waiting for the compute thread

  std::mutex link_stats_mu_;
  transport::HopStats sent_stats_, received_stats_;  // guarded by link_stats_mu_

  std::thread heartbeat_;
  std::mutex heartbeat_mu_;
  std::condition_variable heartbeat_cv_;
  bool heartbeat_stop_ = false;
};

}  // namespace strata::worker
