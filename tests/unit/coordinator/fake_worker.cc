// The fake worker (see fake_worker.h).
#include "tests/unit/coordinator/fake_worker.h"

#include <algorithm>
#include <utility>

#include "common/cluster/pack_identity.h"

namespace strata::coordinator::testing {

namespace pb = control::v1;

void FakeDataPlane::Attach(int32_t stage, FakeWorker* worker) {
  std::lock_guard lock(mu_);
  stages_[stage] = worker;
}

void FakeDataPlane::Detach(FakeWorker* worker) {
  std::lock_guard lock(mu_);
  std::erase_if(stages_, [&](const auto& entry) { return entry.second == worker; });
}

FakeWorker* FakeDataPlane::At(int32_t stage) {
  std::lock_guard lock(mu_);
  const auto it = stages_.find(stage);
  return it == stages_.end() ? nullptr : it->second;
}

pb::PackIdentity PackIdentityFor(const ModelConfig& config) {
  pb::PackIdentity id;
  id.set_config_fingerprint(cluster::ConfigFingerprint(config));
  id.set_num_layers(config.num_layers);
  id.set_hidden_size(config.hidden_size);
  id.set_vocab_size(config.vocab_size);
  id.set_dtype("bf16");
  id.set_layer_bytes(1 << 20);
  return id;
}

FakeWorker::FakeWorker(int control_port, FakeWorkerOptions options, FakeDataPlane* plane)
    : options_(std::move(options)), plane_(plane) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(control_port),
                                     grpc::InsecureChannelCredentials());
  stub_ = pb::Coordinator::NewStub(channel);
  stream_ = stub_->Session(&context_);
  pb::WorkerMessage message;
  pb::Registration& r = *message.mutable_registration();
  r.set_protocol_version(options_.protocol_version);
  r.set_cluster_token(options_.token);
  *r.mutable_pack() = options_.pack;
  r.set_data_host("127.0.0.1");
  r.set_spare(options_.spare);
  pb::Capabilities& caps = *r.mutable_capabilities();
  caps.set_name(options_.name);
  caps.set_backend("cpu");
  caps.set_gpu_bytes(0);  // host memory: every layer resident
  caps.set_pinned_bytes(uint64_t{1} << 30);
  caps.set_decode_ms_per_layer(1.0);
  caps.set_prefill_ms_per_layer(10.0);
  caps.set_prefill_tokens(512);
  Write(message);
  reader_ = std::thread([this] { ReadLoop(); });
  heartbeater_ = std::thread([this] { HeartbeatLoop(); });
}

FakeWorker::~FakeWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  plane_->Detach(this);
  context_.TryCancel();
  reader_.join();
  heartbeater_.join();
}

bool FakeWorker::WaitForAnswer(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return answered_; });
  return accepted_;
}

std::string FakeWorker::refused_reason() {
  std::lock_guard lock(mu_);
  return refused_reason_;
}

grpc::Status FakeWorker::final_status() {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ended; });
  return final_status_;
}

bool FakeWorker::WaitUntil(const std::function<bool(FakeWorker&)>& done,
                           std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return done(*this); });
}

void FakeWorker::HoldSteps(bool hold) {
  std::vector<pb::WorkerMessage> release;
  {
    std::lock_guard lock(mu_);
    hold_ = hold;
    if (!hold) release.swap(held_results_);
  }
  for (const pb::WorkerMessage& result : release) Write(result);
}

void FakeWorker::FailNextStep(std::string error, bool link_fault) {
  std::lock_guard lock(mu_);
  fail_next_.emplace();
  fail_next_->set_error(std::move(error));
  fail_next_->set_link_fault(link_fault);
}

void FakeWorker::StopHeartbeats() {
  std::lock_guard lock(mu_);
  heartbeats_ = false;
}

void FakeWorker::Drop() {
  plane_->Detach(this);
  context_.TryCancel();
}

void FakeWorker::Leave() {
  pb::WorkerMessage leaving;
  leaving.mutable_leaving()->set_reason("signal 15");
  Write(leaving);
}

void FakeWorker::ReadLoop() {
  pb::CoordinatorMessage message;
  while (stream_->Read(&message)) Handle(message);
  const grpc::Status status = stream_->Finish();
  std::lock_guard lock(mu_);
  final_status_ = status;
  ended = true;
  answered_ = true;
  cv_.notify_all();
}

void FakeWorker::HeartbeatLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_ && !ended) {
    const auto interval = std::chrono::milliseconds(heartbeat_ms_ > 0 ? heartbeat_ms_ : 10);
    cv_.wait_for(lock, interval, [&] { return stopping_ || ended; });
    if (stopping_ || ended || !heartbeats_ || !accepted_) continue;
    pb::WorkerMessage beat;
    beat.mutable_heartbeat()->set_unix_ms(1);
    lock.unlock();
    Write(beat);
    lock.lock();
  }
}

void FakeWorker::Handle(const pb::CoordinatorMessage& message) {
  pb::WorkerMessage reply;
  std::unique_lock lock(mu_);
  switch (message.kind_case()) {
    case pb::CoordinatorMessage::kAccepted:
      accepted_ = true;
      answered_ = true;
      heartbeat_ms_ = message.accepted().heartbeat_ms();
      break;
    case pb::CoordinatorMessage::kRefused:
      refused_reason_ = message.refused().reason();
      break;
    case pb::CoordinatorMessage::kAssignment: {
      const pb::Assignment& a = message.assignment();
      assignments.push_back(a);
      stage_ = a.stage();
      num_stages_ = a.num_stages();
      epoch_ = a.epoch();
      plane_->Attach(stage_, this);
      reply.mutable_loaded()->set_epoch(a.epoch());
      if (stage_ > 0) reply.mutable_loaded()->set_data_address(options_.name + ":9000");
      break;
    }
    case pb::CoordinatorMessage::kConnect:
      connects.push_back(message.connect());
      reply.mutable_ready()->set_epoch(message.connect().epoch());
      break;
    case pb::CoordinatorMessage::kOpen:
      ++opens;
      prompt_tokens_[message.open().seq_id()] = message.open().prompt_tokens();
      if (message.open().sampling().logprobs()) {
        top_logprobs_[message.open().seq_id()] = message.open().sampling().top_logprobs();
      }
      max_open = std::max(max_open, prompt_tokens_.size());
      reply.mutable_opened()->set_epoch(message.open().epoch());
      reply.mutable_opened()->set_seq_id(message.open().seq_id());
      break;
    case pb::CoordinatorMessage::kClose:
      closes.push_back(message.close());
      prompt_tokens_.erase(message.close().seq_id());
      break;
    case pb::CoordinatorMessage::kStep:
      lock.unlock();
      RunStep(message.step());
      return;
    case pb::CoordinatorMessage::kReset:
      resets.push_back(message.reset());
      plane_->Detach(this);
      stage_ = -1;
      break;
    case pb::CoordinatorMessage::kShutdown:
      shut_down = true;
      Drop();
      break;
    default:
      break;
  }
  cv_.notify_all();
  lock.unlock();
  if (reply.kind_case() != pb::WorkerMessage::KIND_NOT_SET) Write(reply);
}

void FakeWorker::RunStep(const pb::Step& step) {
  std::unique_lock lock(mu_);
  steps.push_back(step);
  if (fail_next_) {
    pb::WorkerMessage reply;
    *reply.mutable_failed() = *std::exchange(fail_next_, std::nullopt);
    reply.mutable_failed()->set_epoch(step.epoch());
    reply.mutable_failed()->set_step_id(step.step_id());
    cv_.notify_all();
    lock.unlock();
    Write(reply);
    return;
  }
  const bool last = stage_ == num_stages_ - 1;
  if (!last) {
    const int32_t next_stage = stage_ + 1;
    cv_.notify_all();
    lock.unlock();
    if (FakeWorker* next = plane_->At(next_stage)) next->RunStep(step);
    return;
  }
  pb::WorkerMessage reply;
  pb::StepResult& result = *reply.mutable_result();
  result.set_epoch(step.epoch());
  result.set_step_id(step.step_id());
  for (const pb::SeqWork& work : step.seqs()) {
    const int32_t seen = tokens_seen_[work.seq_id()] += work.tokens_size();
    if (seen >= prompt_tokens_[work.seq_id()]) {
      pb::SampledToken& token = *result.add_tokens();
      token.set_seq_id(work.seq_id());
      const int32_t n = sampled_[work.seq_id()]++;
      token.set_token_id(options_.token_for(work.seq_id(), n));
      if (const auto top = top_logprobs_.find(work.seq_id()); top != top_logprobs_.end()) {
        // FakeLogprob(n, k): the sampled id's (k = 0), then k alternatives id + k.
        token.set_logprob(FakeLogprob(n, 0));
        for (int32_t k = 0; k < top->second; ++k) {
          pb::TokenLogprob& alt = *token.add_top_logprobs();
          alt.set_token_id(token.token_id() + k);
          alt.set_logprob(FakeLogprob(n, k));
        }
      }
    }
  }
  if (hold_) {
    ++held_steps;
    held_results_.push_back(std::move(reply));
    cv_.notify_all();
    return;
  }
  cv_.notify_all();
  lock.unlock();
  if (options_.step_time.count() > 0) std::this_thread::sleep_for(options_.step_time);
  Write(reply);
}

void FakeWorker::Write(const pb::WorkerMessage& message) {
  std::lock_guard lock(write_mu_);
  stream_->Write(message);
}

}  // namespace strata::coordinator::testing
