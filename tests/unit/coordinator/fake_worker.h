// A fake strata-worker for the coordinator's tests: a real gRPC client of Coordinator.Session
// that registers, answers Assignment with Loaded, Connect with Ready, OpenSequence with
// SequenceOpened, and passes Steps down an in-process "data plane" (FakeDataPlane) to the
// fake last stage, which answers StepResult with deterministic tokens. It records what it
// receives so tests can check it, can hold steps unanswered, stop heartbeating, drop its
// stream or leave (Leaving; on Shutdown it ends its stream, as strata-worker exits).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/cluster/protocol.h"
#include "common/model/config.h"
#include "common/proto/strata_control.grpc.pb.h"

namespace strata::coordinator::testing {

class FakeWorker;

// Stage -> worker of the current epoch; a stage passes a step to the next one.
class FakeDataPlane {
 public:
  void Attach(int32_t stage, FakeWorker* worker);
  void Detach(FakeWorker* worker);
  FakeWorker* At(int32_t stage);

 private:
  std::mutex mu_;
  std::map<int32_t, FakeWorker*> stages_;
};

struct FakeWorkerOptions {
  std::string name = "w";
  uint32_t protocol_version = cluster::kProtocolVersion;
  std::string token;
  control::v1::PackIdentity pack;
  bool spare = false;  // registers as a standby
  // The last stage takes this long for each step (a slow model).
  std::chrono::milliseconds step_time{0};
  // The last stage's n-th sampled token (n from 0) for a sequence.
  std::function<int32_t(uint64_t seq_id, int32_t n)> token_for = [](uint64_t, int32_t n) {
    return 500 + n;
  };
};

// The log-probability the fake reports for the n-th sampled token's k-th most likely id (the
// sampled id is the most likely: k = 0).
inline float FakeLogprob(int32_t n, int32_t k) { return -0.25f * static_cast<float>(n + 1 + 2 * k); }

// The identity of a bf16 pack of `config`.
control::v1::PackIdentity PackIdentityFor(const ModelConfig& config);

class FakeWorker {
 public:
  FakeWorker(int control_port, FakeWorkerOptions options, FakeDataPlane* plane);
  ~FakeWorker();

  // Waits for the coordinator's first answer: true for Accepted; false for Refused or an
  // ended stream (then refused_reason() and final_status() say why).
  bool WaitForAnswer(std::chrono::milliseconds timeout);
  std::string refused_reason();
  grpc::Status final_status();  // after the stream ended

  // Waits until `done` holds over this worker's state (checked on every message).
  bool WaitUntil(const std::function<bool(FakeWorker&)>& done, std::chrono::milliseconds timeout);

  // Last stage: hold its step results back; released, it sends those it held, in order.
  void HoldSteps(bool hold);
  // This stage answers its next step with StepFailed (`error`, flagged a link fault when
  // `link_fault`) instead of running it, as a worker whose neighbour's link broke.
  void FailNextStep(std::string error, bool link_fault);
  void StopHeartbeats();
  void Drop();  // cancels the stream, as a crashed worker's connection ends
  void Leave();  // sends Leaving, as strata-worker on SIGTERM

  // What it received (call from WaitUntil's predicate or after it).
  std::vector<control::v1::Assignment> assignments;
  std::vector<control::v1::Connect> connects;
  std::vector<control::v1::Reset> resets;
  std::vector<control::v1::Step> steps;  // every step this stage ran
  std::vector<control::v1::CloseSequence> closes;
  int32_t opens = 0;
  size_t max_open = 0;  // most sequences open at once
  int32_t held_steps = 0;
  bool shut_down = false;  // got Shutdown (and ended its stream)
  bool ended = false;

  const std::string& name() const { return options_.name; }

 private:
  void ReadLoop();
  void HeartbeatLoop();
  void Handle(const control::v1::CoordinatorMessage& message);
  void RunStep(const control::v1::Step& step);  // this stage's part, then the next stage's
  void Write(const control::v1::WorkerMessage& message);

  const FakeWorkerOptions options_;
  FakeDataPlane* const plane_;
  std::unique_ptr<control::v1::Coordinator::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<control::v1::WorkerMessage,
                                           control::v1::CoordinatorMessage>>
      stream_;
  std::mutex write_mu_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool answered_ = false;
  bool accepted_ = false;
  std::string refused_reason_;
  grpc::Status final_status_;
  uint32_t heartbeat_ms_ = 0;
  bool heartbeats_ = true;
  bool hold_ = false;
  std::optional<control::v1::StepFailed> fail_next_;  // FailNextStep's answer
  std::vector<control::v1::WorkerMessage> held_results_;
  bool stopping_ = false;
  int32_t stage_ = -1;
  int32_t num_stages_ = 0;
  uint64_t epoch_ = 0;
  std::map<uint64_t, int32_t> prompt_tokens_;  // open sequences (last stage)
  std::map<uint64_t, int32_t> tokens_seen_;    // prompt and decode tokens run, by sequence
  std::map<uint64_t, int32_t> sampled_;        // tokens sampled so far, by sequence
  std::map<uint64_t, int32_t> top_logprobs_;   // sequences that want logprobs: alternatives

  std::thread reader_;
  std::thread heartbeater_;
};

}  // namespace strata::coordinator::testing
