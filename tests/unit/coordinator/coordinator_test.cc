// The coordinator end to end in one process: a real gRPC server on 127.0.0.1:0 with fake
// workers as clients (fake_worker.h) and the HTTP API through an httplib client. Covers
// registration refusals, the state machine (assignments, connects, serving), completions
// through a pipeline (chunking, stop ids, concurrency), losing a worker mid-request (fails
// fast, /health degraded, re-plan on rejoin) and HTTP validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include "tests/unit/coordinator/coordinator_fixture.h"

namespace strata::coordinator {
namespace {

namespace pb = control::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::CoordinatorTest;
using testing::FakeWorker;
using testing::FakeWorkerOptions;
using testing::kEot;
using testing::kModelDir;
using testing::kToken;
using testing::Limits;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// --- registration ----------------------------------------------------------------------

TEST_F(CoordinatorTest, RefusesAnotherProtocolVersion) {
  Start(1);
  FakeWorkerOptions o = Options("old");
  o.protocol_version = cluster::kProtocolVersion + 98;
  FakeWorker& w = Add(o);
  EXPECT_FALSE(w.WaitForAnswer(10s));
  EXPECT_THAT(w.refused_reason(),
              HasSubstr("protocol version " + std::to_string(cluster::kProtocolVersion + 98) +
                        ", coordinator speaks " + std::to_string(cluster::kProtocolVersion) +
                        ": upgrade"));
  EXPECT_EQ(w.final_status().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(coordinator_->cluster().Health().registered, 0);
}

TEST_F(CoordinatorTest, RefusesAWrongTokenWithoutEchoingIt) {
  Start(1);
  FakeWorkerOptions o = Options("intruder");
  o.token = "guessed-token-123";
  FakeWorker& w = Add(o);
  EXPECT_FALSE(w.WaitForAnswer(10s));
  EXPECT_THAT(w.refused_reason(), HasSubstr("cluster token"));
  EXPECT_THAT(w.refused_reason(), Not(HasSubstr("guessed-token-123")));
  EXPECT_THAT(w.refused_reason(), Not(HasSubstr(kToken)));
  const grpc::Status status = w.final_status();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), Not(HasSubstr("guessed-token-123")));
}

TEST_F(CoordinatorTest, RefusesAPackOfAnotherModel) {
  Start(1);
  FakeWorkerOptions o = Options("other-model");
  ModelConfig other = config_;
  other.num_layers = 12;
  o.pack = testing::PackIdentityFor(other);
  FakeWorker& w = Add(o);
  EXPECT_FALSE(w.WaitForAnswer(10s));
  EXPECT_THAT(w.refused_reason(), HasSubstr("another model"));
  EXPECT_EQ(w.final_status().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(CoordinatorTest, RefusesAWorkerBeyondTheExpectedCount) {
  Start(1);
  StartServing({"a"});
  FakeWorker& extra = Add(Options("b"));
  EXPECT_FALSE(extra.WaitForAnswer(10s));
  EXPECT_THAT(extra.refused_reason(), HasSubstr("already has its 1 workers"));
}

TEST_F(CoordinatorTest, ARegistrationUnderATakenNameReplacesTheOldOne) {
  Start(2);
  FakeWorker& first = Add(Options("same"));
  ASSERT_TRUE(first.WaitForAnswer(10s));
  FakeWorker& second = Add(Options("same"));
  EXPECT_TRUE(second.WaitForAnswer(10s));
  EXPECT_EQ(first.final_status().error_code(), grpc::StatusCode::CANCELLED);
  const ClusterHealth health = coordinator_->cluster().Health();
  EXPECT_EQ(health.registered, 1);
  EXPECT_EQ(health.state, ClusterState::kWaitingForWorkers);
}

// --- the state machine -----------------------------------------------------------------

TEST_F(CoordinatorTest, AssignsContiguousRangesByNameChainsConnectsAndServes) {
  Start(3, Limits{.max_batch_tokens = 64, .kv_slots = 4, .max_seq_len = 128});
  int status = 0;
  EXPECT_EQ(Health(status)["state"], "waiting_for_workers");
  EXPECT_EQ(status, 503);
  // Registered out of name order: the pipeline is ordered by name, numbers as numbers.
  FakeWorker& c = Add(Options("node-10"));
  FakeWorker& a = Add(Options("node-2"));
  FakeWorker& b = Add(Options("node-9"));
  for (FakeWorker* w : {&a, &b, &c}) ASSERT_TRUE(w->WaitForAnswer(10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));

  int32_t next_layer = 0;
  int32_t stage = 0;
  for (FakeWorker* w : {&a, &b, &c}) {
    ASSERT_EQ(w->assignments.size(), 1u) << w->name();
    const pb::Assignment& as = w->assignments[0];
    EXPECT_EQ(as.epoch(), 1u);
    EXPECT_EQ(as.stage(), stage++);
    EXPECT_EQ(as.num_stages(), 3);
    EXPECT_EQ(as.first_layer(), next_layer) << w->name();
    EXPECT_GE(as.num_layers(), 1);
    EXPECT_EQ(as.gpu_layers(), as.num_layers());  // host-memory workers: all resident
    EXPECT_EQ(as.pinned_layers(), 0);
    EXPECT_EQ(as.max_batch_tokens(), 64);
    EXPECT_EQ(as.max_seq_len(), 128);
    EXPECT_EQ(as.kv_slots(), 4);
    EXPECT_EQ(as.transport(), "ucx");
    next_layer += as.num_layers();
  }
  EXPECT_EQ(next_layer, config_.num_layers);  // every layer exactly once

  ASSERT_EQ(a.connects.size(), 1u);
  EXPECT_EQ(a.connects[0].next_address(), "node-9:9000");
  ASSERT_EQ(b.connects.size(), 1u);
  EXPECT_EQ(b.connects[0].next_address(), "node-10:9000");
  ASSERT_EQ(c.connects.size(), 1u);  // the last stage joins its input link
  EXPECT_EQ(c.connects[0].next_address(), "");

  const Json health = Health(status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(health["status"], "ready");
  EXPECT_EQ(health["workers"][0]["name"], "node-2");
  EXPECT_EQ(health["workers"][2]["layers"][1], config_.num_layers);
}

TEST_F(CoordinatorTest, ASecondCoordinatorOnTheSamePortsFailsToStart) {
  Start(1);
  StatusOr<ModelDirectory> model = LoadModelDirectory(kModelDir);
  ASSERT_TRUE(model.ok());
  CoordinatorConfig config;
  config.http_address = "127.0.0.1:" + std::to_string(coordinator_->http_port());
  config.control_address = "127.0.0.1:0";
  config.metrics_address = "127.0.0.1:0";
  config.cluster_token = kToken;
  auto second = Coordinator::Start(std::move(config), std::move(*model));
  ASSERT_FALSE(second.ok());  // not a silent share of the port's connections
  EXPECT_THAT(second.status().message(), HasSubstr("could not listen"));
  // The same for the control port.
  StatusOr<ModelDirectory> model2 = LoadModelDirectory(kModelDir);
  ASSERT_TRUE(model2.ok());
  CoordinatorConfig control_clash;
  control_clash.http_address = "127.0.0.1:0";
  control_clash.control_address = "127.0.0.1:" + std::to_string(coordinator_->control_port());
  control_clash.metrics_address = "127.0.0.1:0";
  control_clash.cluster_token = kToken;
  auto third = Coordinator::Start(std::move(control_clash), std::move(*model2));
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(third.status().message(), HasSubstr("could not listen for workers"));
  // And for the metrics port.
  StatusOr<ModelDirectory> model3 = LoadModelDirectory(kModelDir);
  ASSERT_TRUE(model3.ok());
  CoordinatorConfig metrics_clash;
  metrics_clash.http_address = "127.0.0.1:0";
  metrics_clash.control_address = "127.0.0.1:0";
  metrics_clash.metrics_address = "127.0.0.1:" + std::to_string(coordinator_->metrics_port());
  metrics_clash.cluster_token = kToken;
  auto fourth = Coordinator::Start(std::move(metrics_clash), std::move(*model3));
  ASSERT_FALSE(fourth.ok());
  EXPECT_THAT(fourth.status().message(), HasSubstr("--metrics-address"));
}

TEST_F(CoordinatorTest, AStreamThatNeverRegistersIsClosed) {
  Start(1);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->control_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::Coordinator::NewStub(channel);
  grpc::ClientContext context;
  const auto start = std::chrono::steady_clock::now();
  auto stream = stub->Session(&context);
  pb::CoordinatorMessage message;
  EXPECT_FALSE(stream->Read(&message));  // nothing sent: closed after the 300 ms timeout
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_FALSE(stream->Finish().ok());
  // The coordinator still takes workers.
  StartServing({"late"});
}

TEST_F(CoordinatorTest, HealthShowsWhatThePlanPredictsHopsIncludedWhenALinkIsGiven) {
  double without_link = 0;
  for (const std::optional<LinkSpec>& link : {std::optional<LinkSpec>(),
                                               std::optional<LinkSpec>(LinkSpec{1.0, 2.0})}) {
    workers_.clear();
    Start(2, Limits{.link = link});
    StartServing({"p0", "p1"});
    int status = 0;
    const Json plan = Health(status)["plan"];
    ASSERT_EQ(status, 200);
    const Json& decode = plan["decode"];
    EXPECT_EQ(decode["tokens_per_pass"], 8);  // --kv-slots sequences a step
    EXPECT_GT(decode["latency_ms"].get<double>(), 0);
    EXPECT_GT(decode["tokens_per_s_single"].get<double>(), 0);
    EXPECT_GE(decode["tokens_per_s_pipelined"].get<double>(),
              decode["tokens_per_s_single"].get<double>());
    EXPECT_EQ(plan["prefill"]["tokens_per_pass"], 512);  // --max-batch-tokens a chunk
    if (!link) {
      without_link = decode["latency_ms"].get<double>();
    } else {  // one hop of 2 ms latency plus 8 tokens of activations at 1 GB/s
      EXPECT_GE(decode["latency_ms"].get<double>(), without_link + 2.0);
    }
  }
}

TEST_F(CoordinatorTest, AFailedAssignmentIsReportedAndTheWorkerDropped) {
  Start(2);
  FakeWorker& a = Add(Options("a"));
  ASSERT_TRUE(a.WaitForAnswer(10s));
  // A worker that answers its assignment with AssignmentFailed: a raw client.
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->control_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::Coordinator::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Session(&context);
  pb::WorkerMessage reg;
  reg.mutable_registration()->set_protocol_version(cluster::kProtocolVersion);
  reg.mutable_registration()->set_cluster_token(kToken);
  pb::Capabilities& caps = *reg.mutable_registration()->mutable_capabilities();
  caps.set_name("b");
  caps.set_decode_ms_per_layer(1.0);
  caps.set_prefill_ms_per_layer(10.0);
  caps.set_prefill_tokens(512);
  *reg.mutable_registration()->mutable_pack() = testing::PackIdentityFor(config_);
  ASSERT_TRUE(stream->Write(reg));
  pb::CoordinatorMessage message;
  ASSERT_TRUE(stream->Read(&message));
  ASSERT_TRUE(message.has_accepted());
  ASSERT_TRUE(stream->Read(&message));
  ASSERT_TRUE(message.has_assignment());
  pb::WorkerMessage failed;
  failed.mutable_assignment_failed()->set_epoch(message.assignment().epoch());
  failed.mutable_assignment_failed()->set_error("out of memory loading layer 3");
  ASSERT_TRUE(stream->Write(failed));
  while (stream->Read(&message)) {
  }
  stream->Finish();
  ASSERT_TRUE(a.WaitUntil([](FakeWorker& w) { return !w.resets.empty(); }, 10s));
  int status = 0;
  const Json health = Health(status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(health["state"], "waiting_for_workers");
  EXPECT_THAT(health["error"].get<std::string>(), HasSubstr("out of memory loading layer 3"));
  // The worker rejoins, fixed: a new epoch.
  StartServing({"b"});
  EXPECT_EQ(coordinator_->cluster().Health().epoch, 2u);
}

// --- serving ---------------------------------------------------------------------------

TEST_F(CoordinatorTest, CompletesThroughTwoStagesInChunks) {
  Start(2, Limits{.max_batch_tokens = 4});
  StartServing({"s0", "s1"});
  const auto res = Complete({{"prompt", "The quick brown fox jumps over the lazy dog"},
                             {"max_tokens", 5},
                             {"temperature", 0},
                             {"return_token_ids", true}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const Json body = Json::parse(res->body);
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["model"], "tiny-llama31");
  const Json& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "length");
  EXPECT_EQ(choice["token_ids"], Json({500, 501, 502, 503, 504}));
  EXPECT_TRUE(choice["logprobs"].is_null());
  EXPECT_EQ(body["prompt_token_ids"][0], 128000);  // BOS from the post-processor
  const int prompt_tokens = body["usage"]["prompt_tokens"];
  EXPECT_EQ(prompt_tokens, static_cast<int>(body["prompt_token_ids"].size()));
  EXPECT_GT(prompt_tokens, 4);
  EXPECT_EQ(body["usage"]["completion_tokens"], 5);
  EXPECT_EQ(body["usage"]["total_tokens"], prompt_tokens + 5);

  // Stage 0 saw chunks of at most 4 tokens covering the prompt in order, then one token
  // per decode; the last stage ran the same steps.
  FakeWorker& s0 = *workers_[0];
  FakeWorker& s1 = *workers_[1];
  ASSERT_TRUE(s0.WaitUntil([](FakeWorker& w) { return !w.closes.empty(); }, 10s));
  int32_t position = 0;
  for (const pb::Step& step : s0.steps) {
    ASSERT_EQ(step.seqs_size(), 1);
    EXPECT_LE(step.seqs(0).tokens_size(), 4);
    EXPECT_EQ(step.seqs(0).start_pos(), position);
    position += step.seqs(0).tokens_size();
  }
  EXPECT_EQ(position, prompt_tokens + 4);  // the last sampled token is never fed back
  ASSERT_TRUE(s1.WaitUntil([](FakeWorker& w) { return !w.closes.empty(); }, 10s));
  EXPECT_EQ(s1.steps.size(), s0.steps.size());
}

TEST_F(CoordinatorTest, AStopIdEndsTheCompletionAndIsNotInTheText) {
  Start(1);
  FakeWorkerOptions o = Options("only");
  o.token_for = [](uint64_t, int32_t n) { return n == 2 ? kEot : 9906 + n; };  // "Hello"...
  ASSERT_TRUE(Add(o).WaitForAnswer(10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  const auto res = Complete({{"prompt", "Hi"}, {"max_tokens", 10}, {"return_token_ids", true}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const Json body = Json::parse(res->body);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["choices"][0]["token_ids"], Json({9906, 9907, kEot}));
  EXPECT_THAT(body["choices"][0]["text"].get<std::string>(), Not(HasSubstr("eot")));
  EXPECT_EQ(body["usage"]["completion_tokens"], 3);
}

TEST_F(CoordinatorTest, FourConcurrentRequestsAllComplete) {
  Start(2, Limits{.max_batch_tokens = 8, .kv_slots = 2});
  StartServing({"p0", "p1"});
  std::vector<std::future<std::pair<int, std::string>>> results;
  for (int i = 0; i < 4; ++i) {
    results.push_back(std::async(std::launch::async, [this, i] {
      httplib::Client client("127.0.0.1", coordinator_->http_port());
      client.set_read_timeout(60, 0);
      const Json body = {{"prompt", "request number " + std::to_string(i) + " says hello"},
                         {"max_tokens", 3 + i},
                         {"return_token_ids", true}};
      const auto res = client.Post("/v1/completions", body.dump(), "application/json");
      return res ? std::make_pair(res->status, res->body) : std::make_pair(-1, std::string());
    }));
  }
  for (int i = 0; i < 4; ++i) {
    const auto [status, text] = results[static_cast<size_t>(i)].get();
    ASSERT_EQ(status, 200) << text;
    const Json body = Json::parse(text);
    EXPECT_EQ(body["choices"][0]["token_ids"].size(), static_cast<size_t>(3 + i));
    EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  }
  // With two KV slots, never more than two sequences were open at once on a stage.
  for (const auto& w : workers_) {
    ASSERT_TRUE(w->WaitUntil([](FakeWorker& fw) { return fw.closes.size() == 4; }, 10s));
    EXPECT_EQ(w->opens, 4);
    EXPECT_GE(w->max_open, 1u);
    EXPECT_LE(w->max_open, 2u);
  }
}

// --- failure ---------------------------------------------------------------------------

TEST_F(CoordinatorTest, ALostWorkerFailsItsRequestAtOnceAndTheClusterReplansOnRejoin) {
  Start(2, Limits{.request_timeout = 60s, .recover = false});
  StartServing({"head", "tail"});
  FakeWorker& head = *workers_[0];
  FakeWorker& tail = *workers_[1];
  tail.HoldSteps(true);
  auto pending = std::async(std::launch::async, [this] {
    return Complete({{"prompt", "never answered"}, {"max_tokens", 4}});
  });
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  const auto dropped_at = std::chrono::steady_clock::now();
  tail.Drop();
  const auto res = pending.get();
  const auto took = std::chrono::steady_clock::now() - dropped_at;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_THAT(res->body, HasSubstr("worker 'tail'"));
  EXPECT_LT(took, 5s);  // not the 60 s timeout

  int status = 0;
  Json health = Health(status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_THAT(health["lost_worker"].get<std::string>(), HasSubstr("worker 'tail'"));
  ASSERT_TRUE(head.WaitUntil([](FakeWorker& w) { return !w.resets.empty(); }, 10s));
  EXPECT_EQ(head.resets[0].epoch(), 1u);
  const auto refused = Complete({{"prompt", "while degraded"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_THAT(refused->body, HasSubstr("waiting_for_workers"));

  // The worker comes back under its name: re-planned under epoch 2, serving again.
  ASSERT_TRUE(Add(Options("tail")).WaitForAnswer(10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  ASSERT_EQ(head.assignments.size(), 2u);
  EXPECT_EQ(head.assignments[1].epoch(), 2u);
  const auto again = Complete({{"prompt", "after the rejoin"}, {"max_tokens", 2}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(Health(status)["status"], "ready");
}

TEST_F(CoordinatorTest, ALostWorkersRunningRequestResumesOnTheNextPlanFromItsTokensSoFar) {
  Start(2, Limits{.request_timeout = 60s});
  StartServing({"head", "tail"});
  FakeWorker& tail = *workers_[1];
  tail.HoldSteps(true);
  auto pending = std::async(std::launch::async, [this] {
    return Complete({{"prompt", "resume me"}, {"max_tokens", 6}, {"return_token_ids", true}});
  });
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  const control::v1::SeqWork prompt = tail.steps.at(0).seqs(0);
  tail.HoldSteps(false);  // the prefill's token (500) goes out...
  tail.HoldSteps(true);   // ...and at most a few more before the next is held
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  tail.Drop();
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kWaitingForWorkers, 10s));
  EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);  // waiting, not failed

  FakeWorker& again = Add(Options("tail"));
  ASSERT_TRUE(again.WaitForAnswer(10s));
  const auto res = pending.get();
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const std::vector<int32_t> ids =
      Json::parse(res->body)["choices"][0]["token_ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(ids.size(), 6u);
  // The new pipeline prefilled the prompt and the ids generated before the loss, in one
  // sequence from position 0, then decoded on from there.
  ASSERT_FALSE(again.steps.empty());
  const control::v1::SeqWork& resumed = again.steps[0].seqs(0);
  EXPECT_EQ(resumed.start_pos(), 0);
  const int before = resumed.tokens_size() - prompt.tokens_size();
  ASSERT_GE(before, 1);
  for (int i = 0; i < resumed.tokens_size(); ++i) {
    const int32_t expected = i < prompt.tokens_size() ? prompt.tokens(i)
                                                      : ids[static_cast<size_t>(i - prompt.tokens_size())];
    EXPECT_EQ(resumed.tokens(i), expected) << i;
  }
  EXPECT_EQ(ids[0], 500);  // the fake's first sampled id, from before the loss
}

// A worker whose link to its neighbour broke fails its step as a link fault: the request is
// not at fault, so it resumes on the next plan (here of the same two workers, both alive).
TEST_F(CoordinatorTest, AStepFailedByALinkFaultResumesItsRequestOnANewPipeline) {
  Start(2, Limits{.request_timeout = 60s});
  StartServing({"head", "tail"});
  FakeWorker& head = *workers_[0];
  const uint64_t epoch = coordinator_->cluster().Health().epoch;
  head.FailNextStep("UCX link to 127.0.0.1:1: the next stage was lost (Endpoint timeout)", true);
  const auto res = Complete({{"prompt", "through a broken link"}, {"max_tokens", 3}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_GT(coordinator_->cluster().Health().epoch, epoch);
  ASSERT_FALSE(head.resets.empty());
  EXPECT_THAT(head.resets[0].reason(), HasSubstr("lost a link in step"));
}

// The race of a killed worker: its neighbour's link fault arrives before its stream's end.
// The request neither fails on the link fault nor on the loss; it resumes when the worker is
// back.
TEST_F(CoordinatorTest, ALinkFaultThenTheLossOfTheWorkerBehindItResumesTheRequest) {
  Start(2, Limits{.request_timeout = 60s});
  StartServing({"head", "tail"});
  FakeWorker& head = *workers_[0];
  FakeWorker& tail = *workers_[1];
  tail.HoldSteps(true);
  head.FailNextStep("UCX link to 127.0.0.1:1: the next stage was lost (Endpoint timeout)", true);
  auto pending = std::async(std::launch::async, [this] {
    return Complete({{"prompt", "the tail dies"}, {"max_tokens", 4}, {"return_token_ids", true}});
  });
  // The head fails the first step; the request resumes on a new pipeline of the same two,
  // whose tail then dies (holding the resumed step).
  ASSERT_TRUE(head.WaitUntil([](FakeWorker& w) { return !w.resets.empty(); }, 10s));
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  tail.Drop();
  EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);  // waiting, not failed
  ASSERT_TRUE(Add(Options("tail")).WaitForAnswer(10s));
  const auto res = pending.get();
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(Json::parse(res->body)["choices"][0]["token_ids"].size(), 4u);
}

// Any other step failure is the request's: it fails, naming the worker and the error.
TEST_F(CoordinatorTest, AStepFailedOtherwiseFailsItsRequestWithTheWorkersError) {
  Start(1, Limits{.request_timeout = 60s});
  StartServing({"solo"});
  workers_[0]->FailNextStep("out of memory for the KV cache", false);
  const auto res = Complete({{"prompt", "fails"}, {"max_tokens", 2}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500) << res->body;
  EXPECT_THAT(res->body, HasSubstr("worker 'solo' (stage 0) failed step"));
  EXPECT_THAT(res->body, HasSubstr("out of memory for the KV cache"));
}

TEST_F(CoordinatorTest, ASpeculatingClusterRefusesAWorkerWithoutTreeAttention) {
  ClusterSpeculation speculation;
  speculation.draft_model = "/packs/draft";
  speculation.setting = {SpeculationMode::kFixed, 4};
  Start(1, Limits{.speculation = speculation});
  FakeWorker& w = Add(Options("gpu"));  // the fake reports no tree attention
  EXPECT_FALSE(w.WaitForAnswer(10s));
  EXPECT_THAT(w.refused_reason(), HasSubstr("does not run token trees"));
}

TEST_F(CoordinatorTest, ASpareWaitsUnplannedAndTakesALostWorkersPlaceAtOnce) {
  Start(2, Limits{.request_timeout = 60s});
  StartServing({"head", "tail"});
  FakeWorkerOptions standby = Options("spare");
  standby.spare = true;
  FakeWorker& spare = Add(standby);
  ASSERT_TRUE(spare.WaitForAnswer(10s));
  FakeWorkerOptions extra = Options("extra");
  FakeWorker& refused = Add(extra);  // not a spare: beyond --workers
  EXPECT_FALSE(refused.WaitForAnswer(10s));
  EXPECT_THAT(refused.refused_reason(), HasSubstr("--spare"));
  EXPECT_TRUE(spare.assignments.empty());
  int ready = 0;
  const Json state = Health(ready);
  ASSERT_EQ(state["workers"].size(), 3u) << state.dump();
  for (const Json& w : state["workers"]) {
    EXPECT_EQ(w.value("spare", false), w["name"] == "spare") << state.dump();
  }

  FakeWorker& tail = *workers_[1];
  tail.HoldSteps(true);
  auto pending = std::async(std::launch::async, [this] {
    return Complete({{"prompt", "carried on by the spare"}, {"max_tokens", 4}});
  });
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  tail.Drop();
  const auto res = pending.get();  // resumed on head + spare, nobody restarted
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  ASSERT_EQ(spare.assignments.size(), 1u);
  EXPECT_EQ(spare.assignments[0].epoch(), 2u);
}

TEST_F(CoordinatorTest, RequestsWaitingToResumeFailWhenNoPlanServesWithinTheRecoverTimeout) {
  Start(2, Limits{.request_timeout = 60s, .recover_timeout = 500ms});
  StartServing({"head", "tail"});
  FakeWorker& tail = *workers_[1];
  tail.HoldSteps(true);
  auto pending = std::async(std::launch::async, [this] {
    return Complete({{"prompt", "nobody comes back"}, {"max_tokens", 4}});
  });
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  const auto dropped_at = std::chrono::steady_clock::now();
  tail.Drop();
  const auto res = pending.get();
  ASSERT_TRUE(res);
  EXPECT_LT(std::chrono::steady_clock::now() - dropped_at, 3s);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_THAT(res->body, HasSubstr("--recover-timeout-s"));
}

TEST_F(CoordinatorTest, MissedHeartbeatsLoseTheWorker) {
  Start(1);
  StartServing({"quiet"});
  workers_[0]->StopHeartbeats();
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kWaitingForWorkers, 10s));
  int status = 0;
  const Json health = Health(status);
  EXPECT_EQ(status, 503);
  EXPECT_THAT(health["lost_worker"].get<std::string>(), HasSubstr("no heartbeat"));
  EXPECT_EQ(workers_[0]->final_status().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(CoordinatorTest, AStepPastItsDeadlineFailsFastAndThePipelineIsReplanned) {
  Start(1, Limits{.step_timeout = 300ms});
  StartServing({"stuck"});
  FakeWorker& stuck = *workers_[0];
  const uint64_t epoch = coordinator_->cluster().Health().epoch;
  stuck.HoldSteps(true);  // heartbeats go on: only the step is lost
  const auto start = std::chrono::steady_clock::now();
  const auto res = Complete({{"prompt", "never answered"}, {"max_tokens", 2}});
  ASSERT_TRUE(res);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_THAT(res->body, HasSubstr("did not come back within its deadline"));
  // The same worker is reset and planned again under a new epoch, then serves.
  stuck.HoldSteps(false);
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  EXPECT_GT(coordinator_->cluster().Health().epoch, epoch);
  const auto again = Complete({{"prompt", "answered"}, {"max_tokens", 2}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
}

TEST_F(CoordinatorTest, ARequestPastItsTimeoutIsA504AndItsSequenceClosed) {
  Start(1, Limits{.request_timeout = 300ms});
  StartServing({"slow"});
  FakeWorker& slow = *workers_[0];
  slow.HoldSteps(true);
  const auto res = Complete({{"prompt", "too slow"}, {"max_tokens", 2}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_THAT(res->body, HasSubstr("--request-timeout-s"));
  EXPECT_EQ(coordinator_->cluster().Health().state, ClusterState::kServing);
}

TEST_F(CoordinatorTest, ShutdownFailsWaitingRequestsAtOnce) {
  Start(1, Limits{.request_timeout = 60s});
  StartServing({"busy"});
  workers_[0]->HoldSteps(true);
  auto pending = std::async(std::launch::async, [this] {
    return Complete({{"prompt", "interrupted"}, {"max_tokens", 4}});
  });
  ASSERT_TRUE(workers_[0]->WaitUntil([](FakeWorker& w) { return w.held_steps > 0; }, 10s));
  const auto stopped_at = std::chrono::steady_clock::now();
  coordinator_->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 5s);
  const auto res = pending.get();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(res->body, HasSubstr("shutting down"));
}

// --- HTTP ------------------------------------------------------------------------------

TEST_F(CoordinatorTest, BadRequestsAre400sAndTheServerKeepsServing) {
  Start(1, Limits{.max_seq_len = 16});
  StartServing({"one"});
  struct Case {
    std::string body;
    std::string param;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"{\"prompt\": ", "", "not valid JSON"},
      {R"({"max_tokens": 3})", "prompt", "prompt is required"},
      {R"({"prompt": "x", "max_tokens": -1})", "max_tokens", "positive integer"},
      {R"({"prompt": "x", "temperature": "hot"})", "temperature", "temperature"},
      {R"({"prompt": "x", "model": "gpt-4"})", "model", "tiny-llama31"},
      {R"({"prompt": "x", "max_tokens": 15})", "max_tokens", "--max-seq-len"},
      {R"({"prompt": "one two three four five six seven eight nine ten eleven twelve"})",
       "max_tokens", "shorten the prompt"},
  };
  for (const Case& c : cases) {
    const auto res = http_->Post("/v1/completions", c.body, "application/json");
    ASSERT_TRUE(res) << c.body;
    EXPECT_EQ(res->status, 400) << c.body;
    const Json error = Json::parse(res->body)["error"];
    EXPECT_EQ(error["type"], "invalid_request_error") << c.body;
    if (c.param.empty()) {
      EXPECT_TRUE(error["param"].is_null()) << c.body;
    } else {
      EXPECT_EQ(error["param"], c.param) << c.body;
    }
    EXPECT_THAT(error["message"].get<std::string>(), HasSubstr(c.says)) << c.body;
  }
  const auto models = http_->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(Json::parse(models->body)["data"][0]["id"], "tiny-llama31");
  const auto ok = Complete({{"prompt", "fine"}, {"max_tokens", 1}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(CoordinatorTest, CompletionsBeforeTheClusterIsReadyAre503WithTheState) {
  Start(2);
  const auto res = Complete({{"prompt", "too early"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_THAT(res->body, HasSubstr("waiting_for_workers"));
  EXPECT_THAT(res->body, HasSubstr("0 of 2 workers"));
  int status = 0;
  EXPECT_EQ(Health(status)["status"], "starting");
  EXPECT_EQ(status, 503);
}

}  // namespace
}  // namespace strata::coordinator
