// The cluster: which workers are registered, the state machine that takes them from
// registration to serving, and the scheduler that runs requests on them.
//
//   waiting_for_workers --(N registered: plan, Assignment to each)--> loading
//   loading --(every Loaded: Connect to every stage but the last)--> connecting
//   connecting --(Ready from every stage but the last)--> serving
//   any --(a worker lost: stream ended, heartbeats missed, AssignmentFailed)--> waiting
//   any --(a worker that said Leaving left after its Shutdown)--> waiting, the queue kept
//
// The pipeline orders workers by name, digits compared as numbers (worker-2 before
// worker-10; ties: registration order), so a worker that rejoins under its name takes its
// old stage. The last stage has nothing to connect: its Loaded is its readiness (a Ready
// from it is accepted too). On a loss every queued and running
// request fails at once naming the worker, survivors get Reset, and the cluster is planned
// again under a new epoch when N workers are registered. Messages of another epoch are
// dropped.
// A graceful leave (Leaving from a serving stage) holds the scheduler: no sequence is opened,
// new requests queue, the open ones finish; then the leaving worker gets Shutdown, and when
// its stream ends the survivors get Reset while the queue is kept for the next plan. A drain
// (the coordinator stopping) refuses new requests, lets the accepted ones run (a hold is
// lifted), and ends with Shutdown to every worker.
// Thread-safety: every public method may be called from any thread (one mutex).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/cluster/protocol.h"
#include "common/plan/cost_model.h"
#include "common/plan/planner.h"
#include "common/proto/strata_control.pb.h"
#include "common/serving/serving_limits.h"
#include "coordinator/generation.h"
#include "common/loader/model_directory.h"
#include "coordinator/cluster_plan.h"
#include "coordinator/scheduler.h"

namespace strata::coordinator {

// A worker's control stream as the cluster sees it.
class WorkerConnection {
 public:
  virtual ~WorkerConnection() = default;
  // Queues `message` for the worker; never blocks.
  virtual void Send(const control::v1::CoordinatorMessage& message) = 0;
  // Ends the stream (the worker sees it cancelled); the transport then reports the end.
  virtual void Close() = 0;
};

inline constexpr int32_t kQueuedRequestsPerSlot = 4;
inline constexpr std::chrono::milliseconds kDefaultStepTimeout{10'000};
inline constexpr double kStepDeadlineSlack = 4.0;
inline constexpr std::chrono::milliseconds kDefaultRecoverTimeout{30'000};
// Spare workers (Registration.spare) registered beyond --workers, at most.
inline constexpr int32_t kMaxSpareWorkers = 64;

struct ClusterOptions {
  int32_t expected_workers = 1;
  ServingLimits limits;
  // Requests waiting for a KV slot; one more is refused (HTTP 429). 0: none wait. Unset:
  // kQueuedRequestsPerSlot per KV slot (a queue that drains within a few generations).
  std::optional<int32_t> max_queued_requests;
  int32_t queue_limit() const {
    return max_queued_requests.value_or(kQueuedRequestsPerSlot * limits.kv_slots);
  }
  std::string transport = "ucx";
  std::optional<LinkSpec> link;  // the hop between workers, for the plan's predictions
  // A step not answered within max(step_timeout, kStepDeadlineSlack x the plan's predicted
  // pass latency for its kind) fails its sequences and resets the pipeline (a lost message, a
  // stage stuck in compute); queued requests wait for the re-plan.
  std::chrono::milliseconds step_timeout = kDefaultStepTimeout;
  // A worker lost (not leaving): true, its running requests wait, at the head of the queue, to
  // be resumed on the next plan (a restarted worker or a spare registering) and fail with 503
  // only if the cluster does not serve again within recover_timeout; false, they fail at once.
  bool recover = true;
  std::chrono::milliseconds recover_timeout = kDefaultRecoverTimeout;
  std::chrono::milliseconds heartbeat_interval = cluster::kHeartbeatInterval;
  int32_t missed_heartbeats_for_loss = cluster::kMissedHeartbeatsForLoss;
  // Speculative decoding (--draft-model): every sequence speculates through the last stage's
  // draft. Unset: off.
  std::optional<ClusterSpeculation> speculation;
};

enum class ClusterState { kWaitingForWorkers, kLoading, kConnecting, kServing };
std::string_view ClusterStateName(ClusterState state);  // "waiting_for_workers", ...

struct WorkerSummary {
  std::string id;
  std::string name;
  std::string backend;
  int32_t stage = -1;  // -1: not assigned in this epoch
  bool spare = false;  // registered as a standby (--spare)
  int32_t first_layer = 0;
  int32_t num_layers = 0;
  // Its data-plane links, as its last heartbeat reported them.
  control::v1::LinkStats sent, received;
};

struct ClusterHealth {
  ClusterState state = ClusterState::kWaitingForWorkers;
  uint64_t epoch = 0;
  int32_t registered = 0;
  int32_t expected = 0;
  std::string lost_worker;  // the last loss since serving, until serving again ("" if none)
  std::string error;        // why the cluster is not serving, when something went wrong
  bool draining = false;    // the coordinator is stopping: no new requests
  std::string leaving;      // a worker's graceful leave holds new sequences ("" if none)
  size_t queued = 0;
  size_t open_sequences = 0;
  uint64_t pipeline_passes = 0;  // steps sent since start, each a pass over every stage
  std::string step_policy;       // StepPolicyName while serving, else ""
  std::vector<WorkerSummary> workers;  // by stage when assigned, else by name
  // What the current epoch's plan predicts (compute, transfers and, with a link, hops).
  std::optional<PhaseTotals> planned_prefill, planned_decode;
};

class Cluster : private StageSender {
 public:
  // `metrics` (may be null; outlives the cluster) gets workers up, the plan's epoch and
  // predictions, and the scheduler's counts and times.
  Cluster(ClusterOptions options, const ModelDirectory& model, CoordinatorMetrics* metrics = nullptr);
  ~Cluster() override;
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // A worker whose version and token were checked. Checks its pack against the model and
  // that the cluster has room, then sends Accepted (and plans when it completes the
  // cluster). A worker already registered under the same name is dropped as lost (a
  // restart). Returns the worker id, or kFailedPrecondition saying what is wrong.
  StatusOr<std::string> Register(const control::v1::Registration& registration,
                                 std::shared_ptr<WorkerConnection> connection);
  void OnMessage(const std::string& worker_id, const control::v1::WorkerMessage& message);
  void OnStreamEnded(const std::string& worker_id, const std::string& why);

  // Queues a validated generation; kUnavailable naming the state when not serving,
  // kResourceExhausted when max_queued_requests already wait.
  Status Submit(const std::shared_ptr<Generation>& generation);
  // Waits until `generation` has more than `have` output ids, is done, or `until` passes.
  // Returns the ids past `have` (possibly none) and whether it is done.
  struct Progress {
    std::vector<int32_t> ids;
    std::vector<SampledLogprobs> logprobs;  // theirs, when the generation reports them
    bool done = false;
  };
  Progress AwaitProgress(const std::shared_ptr<Generation>& generation, size_t have,
                         std::chrono::steady_clock::time_point until);
  // Ends `generation` early with `why` (its client left, its time ran out, a stop string):
  // no more of its steps are scheduled and its sequence is closed on every stage within one
  // step. No-op once done.
  void Cancel(const std::shared_ptr<Generation>& generation, const Status& why);

  // Fails every queued and running request and refuses new ones (the coordinator is
  // stopping); idempotent.
  void Stop();

  // The coordinator drains: new requests are refused (kUnavailable saying so), accepted ones
  // run on (a graceful leave's hold is lifted, so queued ones start), a worker that says
  // Leaving is kept until ShutDownWorkers. Idempotent.
  void Drain();
  // Fails every queued and running request with `why`; the workers stay (a drain's end).
  void FailRemaining(const Status& why);
  // Sends every worker Shutdown with `reason` and waits up to `timeout` for their streams to
  // end; false if some did not.
  bool ShutDownWorkers(const std::string& reason, std::chrono::milliseconds timeout);

  ClusterHealth Health() const;
  // For tests and launchers: waits until the state is `state` or `timeout` passes.
  bool WaitForState(ClusterState state, std::chrono::milliseconds timeout) const;

 private:
  struct Worker {
    std::string name;
    control::v1::Registration registration;
    std::shared_ptr<WorkerConnection> connection;
    uint64_t order = 0;  // registration order, for ties in the pipeline order
    std::chrono::steady_clock::time_point last_heard;
    int32_t stage = -1;
    control::v1::Assignment assignment;
    std::string data_address;
    bool loaded = false;
    bool ready = false;
    bool leaving = false;        // it sent Leaving
    bool shutdown_sent = false;  // told to go: its stream's end is a graceful leave
    control::v1::LinkStats sent, received;  // from the last heartbeat
  };

  void SendToStage(int32_t stage, const control::v1::CoordinatorMessage& message) override;
  void Dispatch(const std::string& worker_id, const control::v1::WorkerMessage& message);
  void OnLeaving(Worker& worker, const std::string& reason);
  void ReleaseLeavers();
  void SendShutdown(Worker& worker, const std::string& reason);
  void MaybePlan();
  void OnLoaded(Worker& worker, const control::v1::Loaded& loaded);
  void OnReady(Worker& worker);
  void MaybeServe();
  void LoseWorker(const std::string& worker_id, const std::string& why);
  // A worker lost a data-plane link mid-step: the running requests resume (or fail, without
  // ClusterOptions::recover) and the registered workers are planned again under a new epoch.
  void RecoverFromLinkFault(const std::string& why);
  // The running requests go back to the queue to be prefilled again once the cluster serves,
  // or fail after recover_timeout; without ClusterOptions::recover they fail now with `why`.
  void ResumeOrFailRunning(const std::string& why);
  // A step overran its deadline: its sequences fail, the queue waits, every worker is reset
  // and the same workers are planned again under a new epoch.
  void ResetPipeline(const std::string& why);
  // Sends Reset (with `reason`) to every worker, forgets the pipeline and plans again.
  void ResetWorkers(const std::string& reason);
  std::chrono::milliseconds StepDeadline(const std::optional<PhaseTotals>& planned) const;
  void SetState(ClusterState state);
  std::string Label(const Worker& worker) const;
  void Watchdog();

  const ClusterOptions options_;
  const ModelDirectory& model_;
  CoordinatorMetrics* const metrics_;

  mutable std::mutex mu_;
  mutable std::condition_variable state_cv_;
  ClusterState state_ = ClusterState::kWaitingForWorkers;
  uint64_t epoch_ = 0;
  uint64_t next_worker_number_ = 1;
  std::string cluster_dtype_;  // the pack dtype every worker must share
  std::map<std::string, Worker> workers_;  // registered, by id
  std::vector<std::string> pipeline_;      // worker ids by stage in this epoch
  std::string lost_worker_;
  std::string error_;
  std::optional<PhaseTotals> planned_prefill_, planned_decode_;  // the current epoch's plan
  Scheduler scheduler_;

  // A graceful leave: the queue is held (new requests queue while not serving) until the
  // cluster serves again; `leaving_` says who and why; leavers_ counts the workers that said
  // Leaving and were not yet told to go.
  bool holding_ = false;
  std::string leaving_;
  int32_t leavers_ = 0;
  bool draining_ = false;  // Drain was called: no new requests
  // Why the running requests wait to be resumed (ClusterOptions::recover) since
  // recovering_since_: a lost worker or link; empty when none wait.
  std::string recovering_from_;
  std::chrono::steady_clock::time_point recovering_since_;
  bool stopping_ = false;  // Stop was called: no new requests; the watchdog ends
  std::condition_variable stop_cv_;
  std::thread watchdog_;  // marks workers lost whose heartbeats stopped
};

}  // namespace strata::coordinator
