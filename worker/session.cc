// WorkerSession (see session.h).
#include "worker/session.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "common/cluster/protocol.h"

namespace strata::worker {
namespace {

namespace v1 = control::v1;

constexpr std::chrono::milliseconds kReceivePoll{200};
constexpr std::chrono::seconds kReconnectDelay{1};

}  // namespace

WorkerSession::WorkerSession(Backend& backend, SessionOptions options)
    : backend_(backend), options_(std::move(options)) {}

WorkerSession::~WorkerSession() { StopCompute(); }

void WorkerSession::RequestStop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(write_mu_);
  if (context_ != nullptr) context_->TryCancel();
}

void WorkerSession::Leave(const std::string& reason) {
  leaving_ = true;
  std::lock_guard<std::mutex> lock(write_mu_);
  if (stream_ == nullptr) {  // no session: nothing to finish
    stop_ = true;
    return;
  }
  v1::WorkerMessage m;
  m.mutable_leaving()->set_reason(reason);
  stream_->Write(m);
}

Status WorkerSession::Run() {
  grpc::ChannelArguments args;  // keepalive: cluster/protocol.h
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(cluster::kKeepaliveInterval.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(cluster::kKeepaliveTimeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      options_.tls ? grpc::SslCredentials({options_.tls->ca, options_.tls->key, options_.tls->cert})
                   : grpc::InsecureChannelCredentials();
  auto channel = grpc::CreateCustomChannel(options_.coordinator, credentials, args);
  std::unique_ptr<v1::Coordinator::Stub> stub = v1::Coordinator::NewStub(channel);
  bool waiting_logged = false;
  while (!stop_ && !shutdown_) {
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(2))) {
      if (!waiting_logged) spdlog::info("waiting for the coordinator at {}", options_.coordinator);
      waiting_logged = true;
      continue;
    }
    waiting_logged = false;
    const Status ended = RunOnce(*stub);
    StopCompute();
    DropStage();
    if (faulted_) return fault_;
    if (ended.code() == StatusCode::kFailedPrecondition) return ended;  // refused
    if (stop_ || shutdown_) break;
    if (leaving_) {
      spdlog::warn("session with the coordinator ended while leaving ({}); not reconnecting",
                   ended.message());
      break;
    }
    spdlog::warn("session with the coordinator ended ({}); reconnecting", ended.message());
    std::this_thread::sleep_for(kReconnectDelay);
  }
  return OkStatus();
}

Status WorkerSession::RunOnce(v1::Coordinator::Stub& stub) {
  grpc::ClientContext context;
  std::unique_ptr<Stream> stream = stub.Session(&context);
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    stream_ = stream.get();
    context_ = &context;
  }
  v1::WorkerMessage hello;
  v1::Registration* r = hello.mutable_registration();
  r->set_protocol_version(cluster::kProtocolVersion);
  r->set_cluster_token(options_.token);
  *r->mutable_capabilities() = options_.capabilities;
  *r->mutable_pack() = options_.pack;
  r->set_data_host(options_.stage.link.advertised_host);
  r->set_spare(options_.spare);
  Write(hello);

  Status ended = Unavailable("the coordinator closed the session");
  v1::CoordinatorMessage first;
  if (stream->Read(&first)) {
    if (first.has_refused()) {
      ended = FailedPrecondition("the coordinator refused this worker: " + first.refused().reason());
    } else if (!first.has_accepted()) {
      ended = Internal("the coordinator answered the registration with something else");
    } else {
      spdlog::info("registered with the coordinator at {} as {}", options_.coordinator,
                   first.accepted().worker_id());
      {
        std::lock_guard<std::mutex> lock(heartbeat_mu_);
        heartbeat_stop_ = false;
      }
      heartbeat_ = std::thread([this] { HeartbeatLoop(); });
      v1::CoordinatorMessage message;
      while (!stop_ && !shutdown_ && stream->Read(&message)) Handle(message);
      {
        std::lock_guard<std::mutex> lock(heartbeat_mu_);
        heartbeat_stop_ = true;
      }
      heartbeat_cv_.notify_all();
      heartbeat_.join();
    }
  }
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    stream_ = nullptr;
    context_ = nullptr;
  }
  context.TryCancel();
  const grpc::Status st = stream->Finish();
  if (ended.code() == StatusCode::kUnavailable && !st.ok()) {
    ended = Unavailable("the coordinator ended the session: " + st.error_message());
  }
  return ended;
}

void WorkerSession::Write(const v1::WorkerMessage& message) {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (stream_ != nullptr) stream_->Write(message);
}

void WorkerSession::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(heartbeat_mu_);
  while (!heartbeat_cv_.wait_for(lock, cluster::kHeartbeatInterval, [this] { return heartbeat_stop_; })) {
    v1::WorkerMessage m;
    v1::Heartbeat& beat = *m.mutable_heartbeat();
    beat.set_unix_ms(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()));
    {
      std::lock_guard<std::mutex> stats_lock(link_stats_mu_);
      const auto fill = [](const transport::HopStats& from, v1::LinkStats& to) {
        to.set_messages(from.messages);
        to.set_payload_bytes(from.payload_bytes);
        to.set_seconds_total(from.seconds_total);
        to.set_seconds_max(from.seconds_max);
        to.set_seconds_last(from.seconds_last);
      };
      fill(sent_stats_, *beat.mutable_sent());
      fill(received_stats_, *beat.mutable_received());
    }
    Write(m);
  }
}

void WorkerSession::Handle(const v1::CoordinatorMessage& m) {
  v1::WorkerMessage reply;
  switch (m.kind_case()) {
    case v1::CoordinatorMessage::kAssignment: {
      StopCompute();
      DropStage();
      epoch_ = m.assignment().epoch();
      spdlog::info("assigned stage {} of {}: layers [{}, {}) ({} on the GPU, {} pinned)",
                   m.assignment().stage(), m.assignment().num_stages(), m.assignment().first_layer(),
                   m.assignment().first_layer() + m.assignment().num_layers(),
                   m.assignment().gpu_layers(), m.assignment().pinned_layers());
      StatusOr<std::unique_ptr<Stage>> stage = Stage::Create(backend_, m.assignment(), options_.stage);
      if (!stage.ok()) {
        spdlog::error("cannot load the assignment: {}", stage.status().message());
        NoteFault(stage.status());  // the coordinator drops a worker whose assignment failed
        reply.mutable_assignment_failed()->set_epoch(epoch_);
        reply.mutable_assignment_failed()->set_error(stage.status().message());
      } else {
        stage_ = std::move(stage).value();
        if (options_.metrics != nullptr) options_.metrics->Assigned(*stage_);
        reply.mutable_loaded()->set_epoch(epoch_);
        reply.mutable_loaded()->set_data_address(stage_->data_address());
      }
      Write(reply);
      return;
    }
    case v1::CoordinatorMessage::kConnect: {
      if (stage_ == nullptr || m.connect().epoch() != epoch_) return;
      if (Status st = stage_->Connect(m.connect().next_address()); !st.ok()) {
        spdlog::error("cannot connect the data plane: {}", st.message());
        reply.mutable_assignment_failed()->set_epoch(epoch_);
        reply.mutable_assignment_failed()->set_error(st.message());
      } else {
        StartCompute();
        reply.mutable_ready()->set_epoch(epoch_);
      }
      Write(reply);
      return;
    }
    case v1::CoordinatorMessage::kOpen: {
      if (m.open().epoch() != epoch_) return;
      v1::SequenceOpened* opened = reply.mutable_opened();
      opened->set_epoch(epoch_);
      opened->set_seq_id(m.open().seq_id());
      if (stage_ == nullptr) {
        opened->set_error("this worker holds no assignment");
      } else if (Status st = stage_->OpenSequence(m.open()); !st.ok()) {
        opened->set_error(st.message());
      } else if (options_.metrics != nullptr) {
        options_.metrics->SequencesChanged(*stage_);
      }
      Write(reply);
      return;
    }
    case v1::CoordinatorMessage::kClose:
      if (stage_ != nullptr && m.close().epoch() == epoch_) {
        stage_->CloseSequence(m.close().seq_id());
        if (options_.metrics != nullptr) options_.metrics->SequencesChanged(*stage_);
      }
      return;
    case v1::CoordinatorMessage::kStep: {
      if (m.step().epoch() != epoch_) return;
      {
        std::lock_guard<std::mutex> lock(steps_mu_);
        steps_.push_back(m.step());
      }
      steps_cv_.notify_one();
      return;
    }
    case v1::CoordinatorMessage::kReset:
      spdlog::warn("reset by the coordinator: {}", m.reset().reason());
      StopCompute();
      DropStage();
      epoch_ = m.reset().epoch();
      return;
    case v1::CoordinatorMessage::kShutdown:
      spdlog::info("shut down by the coordinator: {}", m.shutdown().reason());
      shutdown_ = true;
      return;
    case v1::CoordinatorMessage::kAccepted:
    case v1::CoordinatorMessage::kRefused:
    case v1::CoordinatorMessage::KIND_NOT_SET:
      return;
  }
}

void WorkerSession::StartCompute() {
  StopCompute();
  compute_stop_ = false;
  compute_ = std::thread([this] { ComputeLoop(); });
}

void WorkerSession::StopCompute() {
  compute_stop_ = true;
  steps_cv_.notify_all();
  if (compute_.joinable()) compute_.join();
  PublishLinkStats(nullptr);  // the next stage's links start from zero
  std::lock_guard<std::mutex> lock(steps_mu_);
  steps_.clear();
}

void WorkerSession::DropStage() {
  stage_.reset();
  if (options_.metrics != nullptr) options_.metrics->Unassigned();
}

void WorkerSession::PublishLinkStats(const Stage* stage) {
  const transport::HopStats sent = stage != nullptr ? stage->sent_stats() : transport::HopStats{};
  const transport::HopStats received =
      stage != nullptr ? stage->received_stats() : transport::HopStats{};
  std::lock_guard<std::mutex> lock(link_stats_mu_);
  sent_stats_ = sent;
  received_stats_ = received;
}

void WorkerSession::ComputeLoop() {
  Stage& stage = *stage_;
  bool link_error_logged = false;
  while (!compute_stop_) {
    if (stage.first()) {
      v1::Step step;
      {
        std::unique_lock<std::mutex> lock(steps_mu_);
        steps_cv_.wait(lock, [this] { return compute_stop_ || !steps_.empty(); });
        if (compute_stop_) return;
        step = std::move(steps_.front());
        steps_.pop_front();
      }
      const StepOutput out = stage.RunStep(step);
      if (out.status.ok() && options_.metrics != nullptr) options_.metrics->StepDone(stage, out);
      Report(out);
      PublishLinkStats(&stage);
      continue;
    }
    StatusOr<std::optional<StepOutput>> got = stage.RunReceived(kReceivePoll);
    if (got.ok()) {
      link_error_logged = false;
      if (got->has_value()) {
        if ((*got)->status.ok() && options_.metrics != nullptr) {
          options_.metrics->StepDone(stage, **got);
        }
        Report(**got);
      }
      PublishLinkStats(&stage);
      continue;
    }
    if (got.status().code() != StatusCode::kDeadlineExceeded) {  // the previous stage is gone
      if (!link_error_logged) spdlog::warn("{}", got.status().message());
      link_error_logged = true;
      std::this_thread::sleep_for(kReceivePoll);
    }
  }
}

bool WorkerSession::NoteFault(const Status& status) {
  if (status.code() != StatusCode::kDataLoss) return false;
  if (!faulted_) {
    fault_ = DataLoss(status.message() + "; this worker stops so as never to serve wrong numbers: "
                      "repair or re-create its pack (strata pack) and start it again");
    faulted_ = true;
  }
  return true;
}

void WorkerSession::Report(const StepOutput& out) {
  v1::WorkerMessage m;
  if (!out.status.ok()) {
    spdlog::error("{}", out.status.message());
    m.mutable_failed()->set_epoch(epoch_);
    m.mutable_failed()->set_step_id(out.step_id);
    m.mutable_failed()->set_error(out.status.message());
    // Every data-plane link reports a lost peer or connection as Unavailable.
    m.mutable_failed()->set_link_fault(out.status.code() == StatusCode::kUnavailable);
    if (NoteFault(out.status)) {
      m.mutable_failed()->set_worker_fault(true);
      compute_stop_ = true;  // no step after this one: the coordinator drops the worker
    }
    Write(m);
    return;
  }
  if (!stage_->last()) return;
  v1::StepResult* r = m.mutable_result();
  r->set_epoch(epoch_);
  r->set_step_id(out.step_id);
  for (const SampledToken& sampled : out.tokens) {
    v1::SampledToken* t = r->add_tokens();
    t->set_seq_id(sampled.seq_id);
    t->set_token_id(sampled.token);
    // 0 and no list for a sequence without logprobs: proto3 then sends neither field.
    t->set_logprob(sampled.logprobs.logprob);
    for (const TokenLogprob& alt : sampled.logprobs.top) {
      v1::TokenLogprob* a = t->add_top_logprobs();
      a->set_token_id(alt.id);
      a->set_logprob(alt.logprob);
    }
  }
  for (const v1::SpeculativeOutcome& o : out.speculative) *r->add_speculative() = o;
  r->set_draft_ms(out.draft_ms);
  Write(m);
}

}  // namespace strata::worker
