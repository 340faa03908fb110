// The cluster state machine (see cluster.h).
#include "coordinator/cluster.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/cluster/pack_identity.h"
#include "coordinator/cluster_plan.h"

namespace strata::coordinator {

namespace pb = control::v1;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxNameBytes = 256;     // a worker's name, as it reports it
constexpr size_t kMaxAddressBytes = 512;  // a data-plane address
constexpr size_t kMaxReasonBytes = 1024;  // a reason a worker sends: a Leaving's, a fault's

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Name order with runs of digits compared as numbers: "w-2" < "w-10" < "x-1".
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      const size_t a_start = i;
      const size_t b_start = j;
      while (i < a.size() && IsDigit(a[i])) ++i;
      while (j < b.size() && IsDigit(b[j])) ++j;
      // Leading zeros aside, the longer run is the larger number.
      std::string_view x(a.data() + a_start, i - a_start);
      std::string_view y(b.data() + b_start, j - b_start);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

}  // namespace

std::string_view ClusterStateName(ClusterState state) {
  switch (state) {
    case ClusterState::kWaitingForWorkers: return "waiting_for_workers";
    case ClusterState::kLoading: return "loading";
    case ClusterState::kConnecting: return "connecting";
    case ClusterState::kServing: return "serving";
  }
  return "?";
}

Cluster::Cluster(ClusterOptions options, const ModelDirectory& model, CoordinatorMetrics* metrics)
    : options_(std::move(options)),
      model_(model),
      metrics_(metrics),
      scheduler_(options_.limits, model.stop_ids, metrics,
                 options_.speculation ? options_.speculation->setting.tree_tokens : 0) {
  watchdog_ = std::thread([this] { Watchdog(); });
}

Cluster::~Cluster() {
  Stop();
  watchdog_.join();
}

void Cluster::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    scheduler_.FailAll(Unavailable("the coordinator is shutting down"));
  }
  stop_cv_.notify_all();
}

void Cluster::Drain() {
  std::lock_guard lock(mu_);
  draining_ = true;
  // Queued requests start again, unless a stage already told to go is leaving the pipeline.
  const bool stage_leaving = std::any_of(workers_.begin(), workers_.end(), [](const auto& w) {
    return w.second.shutdown_sent && w.second.stage >= 0;
  });
  if (!stage_leaving) scheduler_.Hold(false);
}

void Cluster::FailRemaining(const Status& why) {
  std::lock_guard lock(mu_);
  scheduler_.FailAll(why);
}

bool Cluster::ShutDownWorkers(const std::string& reason, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  for (auto& [id, w] : workers_) {
    if (!w.shutdown_sent) SendShutdown(w, reason);
  }
  return state_cv_.wait_for(lock, timeout, [&] { return workers_.empty(); });
}

StatusOr<std::string> Cluster::Register(const pb::Registration& registration,
                                        std::shared_ptr<WorkerConnection> connection) {
  const pb::Capabilities& caps = registration.capabilities();
  if (caps.name().empty() || caps.name().size() > kMaxNameBytes) {
    return FailedPrecondition("the worker's name must be 1 to " + std::to_string(kMaxNameBytes) +
                              " bytes; give the worker a --name");
  }
  std::lock_guard lock(mu_);
  const std::string label = "worker '" + caps.name() + "'";
  STRATA_RETURN_IF_ERROR(
      cluster::CheckSameModel(registration.pack(), model_.config, model_.dtype)
          .WithContext(label));
  if (model_.dtype.empty() && !cluster_dtype_.empty() &&
      registration.pack().dtype() != cluster_dtype_) {
    return FailedPrecondition(label + "'s pack is " + registration.pack().dtype() +
                              " but the other workers' are " + cluster_dtype_ +
                              "; pack every node with the same --dtype");
  }
  if (options_.speculation && !caps.tree_attention()) {
    return FailedPrecondition(label + "'s backend (" + caps.backend() +
                              ") does not run token trees, which this cluster's speculative "
                              "decoding needs on every stage (--draft-model): start it on a "
                              "backend that does, or the coordinator without --draft-model");
  }
  // A worker that restarts, or reconnects before its old stream was noticed dead, takes over
  // its name: the old registration is dropped as lost.
  for (const auto& [id, w] : workers_) {
    if (w.name == caps.name()) {
      const std::string old_id = id;
      w.connection->Close();
      LoseWorker(old_id, "replaced by a new registration under the same name");
      break;
    }
  }
  const auto spares = static_cast<int32_t>(std::count_if(
      workers_.begin(), workers_.end(),
      [](const auto& entry) { return entry.second.registration.spare(); }));
  if (registration.spare() && spares >= kMaxSpareWorkers) {
    return FailedPrecondition("the cluster already has " + std::to_string(kMaxSpareWorkers) +
                              " spare workers, the most it keeps");
  }
  if (!registration.spare() &&
      static_cast<int32_t>(workers_.size()) - spares >= options_.expected_workers) {
    return FailedPrecondition("the cluster already has its " +
                              std::to_string(options_.expected_workers) +
                              " workers; start the coordinator with a larger --workers to add "
                              "one, or this worker with --spare to keep it as a standby");
  }
  const std::string id = "w" + std::to_string(next_worker_number_);
  Worker& worker = workers_[id];
  worker.name = caps.name();
  worker.registration = registration;
  worker.connection = std::move(connection);
  worker.order = next_worker_number_++;
  worker.last_heard = Clock::now();
  if (cluster_dtype_.empty()) cluster_dtype_ = registration.pack().dtype();
  spdlog::info("worker {} ({}, {}) registered: {}/{}", worker.name, id, caps.backend(),
               workers_.size(), options_.expected_workers);
  if (metrics_ != nullptr) metrics_->WorkerUp(worker.name).Set(1);

  pb::CoordinatorMessage accepted;
  accepted.mutable_accepted()->set_worker_id(id);
  accepted.mutable_accepted()->set_heartbeat_ms(
      static_cast<uint32_t>(options_.heartbeat_interval.count()));
  worker.connection->Send(accepted);
  MaybePlan();
  return id;
}

void Cluster::OnMessage(const std::string& worker_id, const pb::WorkerMessage& message) {
  std::lock_guard lock(mu_);
  Dispatch(worker_id, message);
  if (leavers_ > 0) ReleaseLeavers();
}

void Cluster::Dispatch(const std::string& worker_id, const pb::WorkerMessage& message) {
  const auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;  // already lost
  Worker& worker = it->second;
  worker.last_heard = Clock::now();
  const int32_t last_stage = static_cast<int32_t>(pipeline_.size()) - 1;
  switch (message.kind_case()) {
    case pb::WorkerMessage::kHeartbeat:
      worker.sent = message.heartbeat().sent();
      worker.received = message.heartbeat().received();
      return;
    case pb::WorkerMessage::kLoaded:
      if (message.loaded().epoch() == epoch_) OnLoaded(worker, message.loaded());
      return;
    case pb::WorkerMessage::kAssignmentFailed:
      if (message.assignment_failed().epoch() != epoch_ || state_ == ClusterState::kServing) {
        return;
      }
      worker.connection->Close();
      LoseWorker(worker_id, "its assignment failed: " + message.assignment_failed().error());
      return;
    case pb::WorkerMessage::kReady:
      if (message.ready().epoch() == epoch_) OnReady(worker);
      return;
    case pb::WorkerMessage::kOpened:
      if (message.opened().epoch() == epoch_ && state_ == ClusterState::kServing) {
        scheduler_.OnOpened(message.opened(), Label(worker));
      }
      return;
    case pb::WorkerMessage::kResult: {
      const pb::StepResult& result = message.result();
      if (result.epoch() != epoch_ || state_ != ClusterState::kServing) return;
      if (worker.stage != last_stage) {
        spdlog::warn("{} is stage {}, not the last, but sent a StepResult; dropped", Label(worker),
                     worker.stage);
        return;
      }
      std::vector<int32_t> ids;
      for (const pb::SampledToken& token : result.tokens()) ids.push_back(token.token_id());
      for (const pb::SpeculativeOutcome& o : result.speculative()) {
        ids.insert(ids.end(), o.next_tokens().begin(), o.next_tokens().end());
      }
      for (const int32_t id : ids) {
        if (id < 0 || id >= model_.config.vocab_size) {
          pb::StepFailed failed;
          failed.set_epoch(result.epoch());
          failed.set_step_id(result.step_id());
          failed.set_error("sampled or proposed token id " + std::to_string(id) +
                           " outside the vocabulary of " +
                           std::to_string(model_.config.vocab_size));
          scheduler_.OnFailed(failed, Label(worker));
          return;
        }
      }
      scheduler_.OnResult(result);
      return;
    }
    case pb::WorkerMessage::kFailed:
      if (message.failed().epoch() == epoch_ && state_ == ClusterState::kServing) {
        if (message.failed().link_fault() && !message.failed().worker_fault()) {
          RecoverFromLinkFault(Label(worker) + " lost a link in step " +
                               std::to_string(message.failed().step_id()) + ": " +
                               message.failed().error().substr(0, kMaxReasonBytes));
          return;
        }
        scheduler_.OnFailed(message.failed(), Label(worker));
      }
      if (message.failed().worker_fault()) {
        worker.connection->Close();
        LoseWorker(worker_id, "a fault of its own: " +
                                  message.failed().error().substr(0, kMaxReasonBytes));
      }
      return;
    case pb::WorkerMessage::kLeaving:
      OnLeaving(worker, message.leaving().reason().substr(0, kMaxReasonBytes));
      return;
    case pb::WorkerMessage::kRegistration:
    case pb::WorkerMessage::KIND_NOT_SET:
      spdlog::warn("{} sent an unexpected message (kind {}); dropped", Label(worker),
                   static_cast<int>(message.kind_case()));
      return;
  }
}

void Cluster::OnStreamEnded(const std::string& worker_id, const std::string& why) {
  std::lock_guard lock(mu_);
  LoseWorker(worker_id, why);
}

Status Cluster::Submit(const std::shared_ptr<Generation>& generation) {
  std::lock_guard lock(mu_);
  if (stopping_) return Unavailable("the coordinator is shutting down");
  if (draining_) {
    return Unavailable("the coordinator is draining: it finishes the requests it accepted and "
                       "takes no new ones; retry on another replica or once it has restarted");
  }
  // A graceful leave holds the queue: the request waits until the cluster serves again.
  if (state_ != ClusterState::kServing && !holding_) {
    std::string message = "the cluster is not ready (state " +
                          std::string(ClusterStateName(state_)) + ", " +
                          std::to_string(workers_.size()) + " of " +
                          std::to_string(options_.expected_workers) + " workers registered)";
    if (!lost_worker_.empty()) message += "; " + lost_worker_;
    if (!error_.empty() && error_ != lost_worker_) message += "; " + error_;
    return Unavailable(message + "; retry when GET /health says ready");
  }
  // A free slot takes the request at once; otherwise up to queue_limit() wait.
  if (scheduler_.queued() + scheduler_.open_sequences() >=
      static_cast<size_t>(options_.limits.kv_slots) + static_cast<size_t>(options_.queue_limit())) {
    return ResourceExhausted(
        "the server is at capacity: all " + std::to_string(options_.limits.kv_slots) +
        " sequence slots are busy and " + std::to_string(options_.queue_limit()) +
        " requests already wait (--max-queued-requests); retry after a moment");
  }
  scheduler_.Submit(generation);
  return OkStatus();
}

Cluster::Progress Cluster::AwaitProgress(const std::shared_ptr<Generation>& generation,
                                         size_t have, Clock::time_point until) {
  std::unique_lock lock(mu_);
  generation->changed_cv.wait_until(
      lock, until, [&] { return generation->done || generation->output.size() > have; });
  Progress progress;
  progress.done = generation->done;
  if (generation->output.size() > have) {
    progress.ids.assign(generation->output.begin() + static_cast<std::ptrdiff_t>(have),
                        generation->output.end());
    if (generation->logprobs) {
      progress.logprobs.assign(
          generation->output_logprobs.begin() + static_cast<std::ptrdiff_t>(have),
          generation->output_logprobs.end());
    }
  }
  return progress;
}

void Cluster::Cancel(const std::shared_ptr<Generation>& generation, const Status& why) {
  std::lock_guard lock(mu_);
  scheduler_.Abandon(generation, why);
  if (leavers_ > 0) ReleaseLeavers();
}

ClusterHealth Cluster::Health() const {
  std::lock_guard lock(mu_);
  ClusterHealth health;
  health.state = state_;
  health.epoch = epoch_;
  health.registered = static_cast<int32_t>(workers_.size());
  health.expected = options_.expected_workers;
  health.lost_worker = lost_worker_;
  health.error = error_;
  health.draining = draining_;
  health.leaving = leaving_;
  health.queued = scheduler_.queued();
  health.open_sequences = scheduler_.open_sequences();
  health.pipeline_passes = scheduler_.pipeline_passes();
  if (scheduler_.serving()) health.step_policy = StepPolicyName(scheduler_.step_policy());
  health.planned_prefill = planned_prefill_;
  health.planned_decode = planned_decode_;
  for (const auto& [id, w] : workers_) {
    WorkerSummary s;
    s.id = id;
    s.name = w.name;
    s.backend = w.registration.capabilities().backend();
    s.stage = w.stage;
    s.spare = w.registration.spare();
    s.first_layer = w.stage >= 0 ? w.assignment.first_layer() : 0;
    s.num_layers = w.stage >= 0 ? w.assignment.num_layers() : 0;
    s.sent = w.sent;
    s.received = w.received;
    health.workers.push_back(std::move(s));
  }
  std::sort(health.workers.begin(), health.workers.end(), [](const auto& a, const auto& b) {
    return a.stage != b.stage ? a.stage < b.stage : a.name < b.name;
  });
  return health;
}

bool Cluster::WaitForState(ClusterState state, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return state_cv_.wait_for(lock, timeout, [&] { return state_ == state; });
}

void Cluster::SendToStage(int32_t stage, const pb::CoordinatorMessage& message) {
  workers_.at(pipeline_.at(static_cast<size_t>(stage))).connection->Send(message);
}

// A worker asks to leave. Serving on it, the scheduler is held until its open sequences
// finish; otherwise it is told to go at once. A draining coordinator keeps it to the end.
void Cluster::OnLeaving(Worker& worker, const std::string& reason) {
  if (worker.leaving || worker.shutdown_sent) return;
  if (draining_) {
    spdlog::info("{} is leaving ({}); the drain lets what runs finish, then shuts every worker "
                 "down", Label(worker), reason);
    return;
  }
  worker.leaving = true;
  ++leavers_;
  if (state_ == ClusterState::kServing && worker.stage >= 0) {
    holding_ = true;
    leaving_ = Label(worker) + " is leaving (" + reason +
               "): its open sequences finish, new ones wait in the queue until the cluster "
               "serves again";
    scheduler_.Hold(true);
    spdlog::info("epoch {}: {}; {} open, {} queued", epoch_, leaving_,
                 scheduler_.open_sequences(), scheduler_.queued());
  } else {
    spdlog::info("{} is leaving ({}); nothing runs on it", Label(worker), reason);
  }
}

// Tells leaving workers to go once nothing runs on them: at once when the cluster does not
// serve or the worker holds no stage, else when the last open sequence has closed.
void Cluster::ReleaseLeavers() {
  if (draining_) return;  // the drain shuts every worker down at its end
  const bool busy = state_ == ClusterState::kServing && scheduler_.open_sequences() > 0;
  for (auto& [id, w] : workers_) {
    if (!w.leaving || w.shutdown_sent || (busy && w.stage >= 0)) continue;
    spdlog::info("{} may leave: nothing runs on it", Label(w));
    SendShutdown(w, "released after Leaving: none of its sequences is open");
  }
}

void Cluster::SendShutdown(Worker& worker, const std::string& reason) {
  if (worker.leaving) --leavers_;
  worker.shutdown_sent = true;
  pb::CoordinatorMessage message;
  message.mutable_shutdown()->set_reason(reason);
  worker.connection->Send(message);
}

// With every expected worker registered and nothing assigned: plans under a new epoch and
// sends each stage its Assignment.
void Cluster::MaybePlan() {
  if (state_ != ClusterState::kWaitingForWorkers ||
      static_cast<int32_t>(workers_.size()) < options_.expected_workers) {
    return;
  }
  // --workers of the registered, the regular ones first and spares in the order they came;
  // then the pipeline in the order of their names.
  std::vector<std::string> order;
  for (const auto& [id, w] : workers_) order.push_back(id);
  std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    const Worker& x = workers_.at(a);
    const Worker& y = workers_.at(b);
    if (x.registration.spare() != y.registration.spare()) return !x.registration.spare();
    return x.order < y.order;
  });
  order.resize(static_cast<size_t>(options_.expected_workers));
  std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    const Worker& x = workers_.at(a);
    const Worker& y = workers_.at(b);
    return x.name != y.name ? NaturalLess(x.name, y.name) : x.order < y.order;
  });
  std::vector<pb::Registration> registrations;
  for (const std::string& id : order) registrations.push_back(workers_.at(id).registration);
  const ServingLimits& limits = options_.limits;
  const StatusOr<ClusterPlan> plan =
      PlanCluster(MakeClusterSpec(registrations, model_.config, limits, options_.link,
                                  options_.speculation),
                  PlanOptions{});
  if (!plan.ok()) {
    error_ = "planning failed: " + plan.status().message() +
             "; restart workers with more memory or add workers (--workers)";
    spdlog::error("{}", error_);
    return;
  }
  ++epoch_;
  pipeline_ = order;
  error_.clear();
  planned_prefill_ = plan->prefill;
  planned_decode_ = plan->decode;
  if (metrics_ != nullptr) {
    metrics_->plan_epoch().Set(static_cast<double>(epoch_));
    metrics_->pass_predicted(Phase::kPrefill).Set(plan->prefill.latency_ms / 1e3);
    metrics_->pass_predicted(Phase::kDecode).Set(plan->decode.latency_ms / 1e3);
  }
  SetState(ClusterState::kLoading);
  spdlog::info("epoch {}: the plan predicts decode {:.2f} ms per step of {} sequences ({:.0f} "
               "tokens/s a step at a time, {:.0f} with a step per stage in flight); prefill "
               "{:.1f} ms per {}-token chunk ({:.0f} tokens/s pipelined)",
               epoch_, plan->decode.latency_ms, plan->decode.tokens_per_pass,
               plan->decode.tokens_per_s_single, plan->decode.tokens_per_s_pipelined,
               plan->prefill.latency_ms, plan->prefill.tokens_per_pass,
               plan->prefill.tokens_per_s_pipelined);
  for (size_t stage = 0; stage < pipeline_.size(); ++stage) {
    Worker& w = workers_.at(pipeline_[stage]);
    w.stage = static_cast<int32_t>(stage);
    w.assignment =
        MakeAssignment(*plan, w.stage, epoch_, limits, options_.transport, options_.speculation);
    w.data_address.clear();
    w.loaded = false;
    w.ready = false;
    spdlog::info("epoch {}: stage {} = {}: layers [{}, {}), {} gpu, {} pinned, the rest from "
                 "the SSD with {:.3f} GB of them pinned; the first {} streamed keep {:.1f} MB "
                 "each on the GPU; {} GPU slots, a ring of {} chunks; embedding on the {}",
                 epoch_, stage, w.name, w.assignment.first_layer(),
                 w.assignment.first_layer() + w.assignment.num_layers(),
                 w.assignment.gpu_layers(), w.assignment.pinned_layers(),
                 static_cast<double>(w.assignment.spread_pinned_bytes()) / 1e9,
                 w.assignment.gpu_prefix_layers(),
                 static_cast<double>(w.assignment.gpu_prefix_bytes()) / 1e6,
                 w.assignment.gpu_slots(), w.assignment.staging_chunks(),
                 w.assignment.embed_on_gpu() ? "GPU" : "host");
    pb::CoordinatorMessage message;
    *message.mutable_assignment() = w.assignment;
    w.connection->Send(message);
  }
}

void Cluster::OnLoaded(Worker& worker, const pb::Loaded& loaded) {
  if (state_ != ClusterState::kLoading || worker.stage < 0 || worker.loaded) return;
  if (worker.stage > 0 && (loaded.data_address().empty() ||
                           loaded.data_address().size() > kMaxAddressBytes)) {
    const std::string id = pipeline_[static_cast<size_t>(worker.stage)];
    worker.connection->Close();
    LoseWorker(id, "its Loaded carried no usable data_address (stage " +
                       std::to_string(worker.stage) + " must name its receiver)");
    return;
  }
  worker.loaded = true;
  worker.data_address = loaded.data_address();
  spdlog::info("epoch {}: {} loaded{}", epoch_, Label(worker),
               worker.data_address.empty() ? "" : ", receiving at " + worker.data_address);
  for (const std::string& id : pipeline_) {
    if (!workers_.at(id).loaded) return;
  }
  // Every stage at once (the last with no next address): with NCCL both ends of a link join
  // together.
  SetState(ClusterState::kConnecting);
  for (size_t stage = 0; stage < pipeline_.size(); ++stage) {
    pb::CoordinatorMessage message;
    message.mutable_connect()->set_epoch(epoch_);
    if (stage + 1 < pipeline_.size()) {
      message.mutable_connect()->set_next_address(workers_.at(pipeline_[stage + 1]).data_address);
    }
    workers_.at(pipeline_[stage]).connection->Send(message);
  }
}

void Cluster::OnReady(Worker& worker) {
  if (state_ != ClusterState::kConnecting || worker.stage < 0) return;
  worker.ready = true;
  spdlog::info("epoch {}: {} ready", epoch_, Label(worker));
  MaybeServe();
}

// Serving once every stage is Ready (its links joined).
void Cluster::MaybeServe() {
  for (size_t stage = 0; stage < pipeline_.size(); ++stage) {
    if (!workers_.at(pipeline_[stage]).ready) return;
  }
  lost_worker_.clear();
  error_.clear();
  holding_ = false;
  leaving_.clear();
  recovering_from_.clear();
  SetState(ClusterState::kServing);
  // A stage that streams layers reads them again on every pass: then every ready sequence
  // rides each pass instead of a micro-batch per stage.
  const auto streams = [this](const std::string& id) {
    const pb::Assignment& a = workers_.at(id).assignment;
    return a.num_layers() > a.gpu_layers();
  };
  const bool streamed = std::any_of(pipeline_.begin(), pipeline_.end(), streams);
  spdlog::info("epoch {}: serving on {} stage{}, {}", epoch_, pipeline_.size(),
               pipeline_.size() == 1 ? "" : "s",
               streamed ? "one step in flight (layers are streamed: every ready sequence rides "
                          "each pass over them)"
                        : "a step per stage in flight");
  scheduler_.Start(epoch_, static_cast<int32_t>(pipeline_.size()), this,
                   streamed ? StepPolicy::kOneAtATime : StepPolicy::kOnePerStage);
}

// A worker's stream ended (or it is dropped). After its Shutdown that is a graceful leave:
// the queue is kept. Otherwise it is lost: every request fails.
void Cluster::LoseWorker(const std::string& worker_id, const std::string& why) {
  const auto it = workers_.find(worker_id);
  if (it == workers_.end()) return;
  const std::string label = Label(it->second);
  const bool assigned = it->second.stage >= 0;
  const bool left = it->second.shutdown_sent;
  if (it->second.leaving && !left) --leavers_;
  if (metrics_ != nullptr) metrics_->WorkerUp(it->second.name).Set(0);
  workers_.erase(it);
  if (workers_.empty()) cluster_dtype_.clear();
  state_cv_.notify_all();
  if (!assigned) {
    if (left) {
      spdlog::info("{} left", label);
    } else {
      spdlog::warn("{} left before it was assigned: {}", label, why);
    }
    return;
  }
  std::string reason;
  if (left) {
    reason = label + " left";
    if (holding_) {
      leaving_ = reason + "; queued requests wait for a worker to register and the cluster to "
                          "serve again";
    }
    if (draining_) {
      spdlog::info("epoch {}: {}", epoch_, reason);
    } else {
      spdlog::info("epoch {}: {}; resetting the others, {} queued requests kept, re-planning "
                   "when {} workers are registered",
                   epoch_, reason, scheduler_.queued(), options_.expected_workers);
    }
    scheduler_.Suspend();
  } else {
    lost_worker_ = label + " was lost: " + why;
    error_ = lost_worker_;
    reason = lost_worker_;
    holding_ = false;
    leaving_.clear();
    ResumeOrFailRunning(lost_worker_);
  }
  ResetWorkers(reason);
}

void Cluster::RecoverFromLinkFault(const std::string& why) {
  // Which end failed is not known yet: if a worker died, its stream's end (or its missed
  // heartbeats) follows and LoseWorker waits for it to register again; if both ends live,
  // the same workers are planned again at once.
  error_ = why;
  ResumeOrFailRunning(why);
  ResetWorkers(why);
}

void Cluster::ResumeOrFailRunning(const std::string& why) {
  if (options_.recover && !draining_) {
    const size_t resumed = scheduler_.RequeueRunning();
    if (recovering_from_.empty()) recovering_since_ = Clock::now();
    recovering_from_ = why;
    spdlog::error("epoch {}: {}; resetting the workers; {} running requests resume (prefilled "
                  "again) when {} workers are registered, or fail after {} ms",
                  epoch_, why, resumed, options_.expected_workers,
                  options_.recover_timeout.count());
  } else {
    spdlog::error("epoch {}: {}; failing the running requests, resetting the workers, "
                  "re-planning when {} workers are registered",
                  epoch_, why, options_.expected_workers);
    scheduler_.FailAll(Unavailable(why + "; the cluster resets its workers and re-plans once "
                                         "they are all registered: retry"));
  }
}

void Cluster::ResetPipeline(const std::string& why) {
  error_ = why;
  holding_ = true;
  leaving_ = why + "; queued requests wait for the pipeline to be re-planned";
  spdlog::error("epoch {}: {}; failing the running requests, resetting every worker and "
                "re-planning ({} queued requests kept)",
                epoch_, why, scheduler_.queued());
  scheduler_.FailRunning(Unavailable(why + "; the cluster reset its pipeline: retry"));
  ResetWorkers(why);
}

void Cluster::ResetWorkers(const std::string& reason) {
  pb::CoordinatorMessage reset;
  reset.mutable_reset()->set_epoch(epoch_);
  reset.mutable_reset()->set_reason(reason);
  for (auto& [id, w] : workers_) {
    w.stage = -1;
    w.loaded = false;
    w.ready = false;
    if (!w.shutdown_sent) w.connection->Send(reset);
  }
  pipeline_.clear();
  SetState(ClusterState::kWaitingForWorkers);
  if (leavers_ > 0) ReleaseLeavers();
  MaybePlan();
}

void Cluster::SetState(ClusterState state) {
  state_ = state;
  state_cv_.notify_all();
}

std::string Cluster::Label(const Worker& worker) const {
  std::string label = "worker '" + worker.name + "'";
  if (worker.stage >= 0) label += " (stage " + std::to_string(worker.stage) + ")";
  return label;
}

void Cluster::Watchdog() {
  const auto limit = options_.heartbeat_interval * options_.missed_heartbeats_for_loss;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, options_.heartbeat_interval / 2);
    const Clock::time_point now = Clock::now();
    std::vector<std::string> silent;
    for (const auto& [id, w] : workers_) {
      if (now - w.last_heard > limit) silent.push_back(id);
    }
    for (const std::string& id : silent) {
      const auto it = workers_.find(id);
      if (it == workers_.end()) continue;
      it->second.connection->Close();
      LoseWorker(id, "no heartbeat for " +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            now - it->second.last_heard)
                                            .count()) +
                         " ms");
    }
    if (!recovering_from_.empty() && state_ != ClusterState::kServing &&
        now - recovering_since_ > options_.recover_timeout) {
      const std::string why = std::move(recovering_from_);
      recovering_from_.clear();
      spdlog::error("{}; no plan served within {} ms (--recover-timeout-s): failing the {} "
                    "requests that waited to resume", why,
                    options_.recover_timeout.count(), scheduler_.queued());
      scheduler_.FailAll(Unavailable(why + "; the cluster did not serve again within " +
                                     std::to_string(options_.recover_timeout.count()) +
                                     " ms to resume this request (--recover-timeout-s)"));
    }
    if (state_ != ClusterState::kServing) continue;
    const std::chrono::milliseconds prefill = StepDeadline(planned_prefill_);
    const std::chrono::milliseconds decode = StepDeadline(planned_decode_);
    if (const std::optional<uint64_t> step = scheduler_.OverdueStep(now, prefill, decode)) {
      ResetPipeline("step " + std::to_string(*step) + " did not come back within its deadline (" +
                    std::to_string(prefill.count()) + " ms for a prefill step, " +
                    std::to_string(decode.count()) + " ms for a decode step: --step-timeout-s "
                    "or 4x the plan's prediction): a stage is stuck or a message was lost");
    }
  }
}

std::chrono::milliseconds Cluster::StepDeadline(const std::optional<PhaseTotals>& planned) const {
  const double predicted_ms = planned ? kStepDeadlineSlack * planned->latency_ms : 0.0;
  return std::max(options_.step_timeout,
                  std::chrono::milliseconds(static_cast<int64_t>(std::ceil(predicted_ms))));
}

}  // namespace strata::coordinator
