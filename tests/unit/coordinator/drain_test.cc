// Stopping gracefully, in one process with fake workers: the coordinator's drain (accepted
// requests finish, new ones get 503, /ready says draining, every worker is told to shut
// down; its timeout and a second call fail what is left) and a worker's graceful leave
// (Leaving: its open sequences finish, the queue waits, it is told to go, the queue runs
// once a worker registers again under its name; lost before its Shutdown, it is a loss).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "tests/support/eventually.h"
#include "tests/unit/coordinator/coordinator_fixture.h"

namespace strata::coordinator {
namespace {

using ::testing::HasSubstr;
using testing::CoordinatorTest;
using testing::FakeWorker;
using testing::Limits;
using Json = nlohmann::json;
using namespace std::chrono_literals;

using Reply = httplib::Result;

bool Eventually(const std::function<bool()>& done) { return ::strata::testing::Eventually(done, 10s); }

bool Pending(const std::future<Reply>& reply) { return reply.wait_for(0s) != std::future_status::ready; }

// The answer `reply` brings has HTTP `status` and a body holding `text`.
void ExpectAnswer(std::future<Reply>& reply, int status, const std::string& text = "") {
  const Reply r = reply.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_THAT(r->body, HasSubstr(text));
}

class DrainTest : public CoordinatorTest {
 protected:
  // Serves on workers `names`; the last holds its step results back, and a completion of 3
  // tokens is running, its first step held, when this returns.
  std::future<Reply> StartRunning(const std::vector<std::string>& names, Limits limits = {}) {
    Start(static_cast<int32_t>(names.size()), limits);
    StartServing(names);
    workers_.back()->HoldSteps(true);
    std::future<Reply> running = Post({{"prompt", "running"}, {"max_tokens", 3}});
    EXPECT_TRUE(workers_.back()->WaitUntil([](FakeWorker& f) { return f.held_steps > 0; }, 10s));
    return running;
  }
  // Posts a completion that waits in the queue behind the running one (one KV slot), and
  // returns once it is queued.
  std::future<Reply> PostQueued() {
    std::future<Reply> queued = Post({{"prompt", "queued"}, {"max_tokens", 2}});
    EXPECT_TRUE(Eventually([&] { return Queued() == 1; }));
    return queued;
  }
  std::future<Reply> Post(const Json& body) {
    return std::async(std::launch::async, [this, body] {
      httplib::Client client("127.0.0.1", coordinator_->http_port());
      client.set_read_timeout(60, 0);
      return client.Post("/v1/completions", body.dump(), "application/json");
    });
  }
  size_t Queued() { return coordinator_->cluster().Health().queued; }
  // GET /ready: its status and its body's reason.
  std::string ReadyReason(int& status) {
    const auto ready = http_->Get("/ready");
    status = ready ? ready->status : -1;
    return ready ? Json::parse(ready->body).value("reason", "") : "";
  }
  // Waits (bounded) for the coordinator to stop after its drain.
  bool Stopped() {
    return std::async(std::launch::async, [this] { coordinator_->Wait(); }).wait_for(10s) ==
           std::future_status::ready;
  }
};

TEST_F(DrainTest, ADrainFinishesWhatWasAcceptedRefusesNewRequestsThenShutsTheWorkersDown) {
  auto running = StartRunning({"w"}, Limits{.kv_slots = 1});
  FakeWorker& w = *workers_[0];
  auto queued = PostQueued();

  coordinator_->Drain(30s);
  const auto refused = Complete({{"prompt", "too late"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "5");
  EXPECT_THAT(refused->body, HasSubstr("draining"));
  int status = 0;
  EXPECT_THAT(ReadyReason(status), HasSubstr("draining"));
  EXPECT_EQ(status, 503);
  const Json cluster = Health(status);
  EXPECT_EQ(cluster["status"], "draining");
  EXPECT_EQ(cluster["draining"], true);
  EXPECT_EQ(http_->Get("/health")->status, 200);

  // A worker that says Leaving during the drain is kept to the end, like the others.
  w.Leave();
  EXPECT_FALSE(w.WaitUntil([](FakeWorker& f) { return f.shut_down; }, 100ms));
  w.HoldSteps(false);
  ExpectAnswer(running, 200, R"("completion_tokens":3)");
  ExpectAnswer(queued, 200);
  EXPECT_TRUE(Stopped());
  EXPECT_TRUE(w.WaitUntil([](FakeWorker& f) { return f.shut_down; }, 10s));
}

TEST_F(DrainTest, ADrainTimeoutFailsWhatIsLeftWith503AndStreamsEndWithAnErrorEvent) {
  auto whole = StartRunning({"w"});
  FakeWorker& w = *workers_[0];
  auto stream = Post({{"prompt", "stream"}, {"max_tokens", 3}, {"stream", true}});
  ASSERT_TRUE(Eventually([&] { return coordinator_->cluster().Health().open_sequences == 2; }));

  const auto start = std::chrono::steady_clock::now();
  coordinator_->Drain(100ms);
  ExpectAnswer(whole, 503, "drain timeout");
  const Reply streamed = stream.get();
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->status, 200);  // the stream had begun
  EXPECT_THAT(streamed->body, HasSubstr("data: {\"error\""));
  EXPECT_THAT(streamed->body, HasSubstr("drain timeout"));
  EXPECT_THAT(streamed->body, ::testing::Not(HasSubstr("[DONE]")));
  EXPECT_TRUE(Stopped());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(w.WaitUntil([](FakeWorker& f) { return f.shut_down; }, 10s));
}

TEST_F(DrainTest, ASecondDrainCutsTheFirstShort) {
  auto running = StartRunning({"w"});
  coordinator_->Drain(60s);
  coordinator_->Drain(60s);
  ExpectAnswer(running, 503, "stopped during its drain");
  EXPECT_TRUE(Stopped());
}

TEST_F(DrainTest, ALeavingWorkerFinishesItsSequencesThenGoesAndTheQueueWaitsForItsReturn) {
  auto running = StartRunning({"head", "tail"}, Limits{.kv_slots = 1});
  FakeWorker& head = *workers_[0];
  FakeWorker& tail = *workers_[1];
  auto queued = PostQueued();

  tail.Leave();
  int status = 0;
  ASSERT_TRUE(Eventually([&] {
    return ReadyReason(status).find("worker 'tail' (stage 1) is leaving") != std::string::npos;
  }));
  EXPECT_EQ(status, 503);
  // Requests that come meanwhile queue too.
  auto later = Post({{"prompt", "later"}, {"max_tokens", 2}});
  ASSERT_TRUE(Eventually([&] { return Queued() == 2; }));
  EXPECT_FALSE(tail.shut_down);

  tail.HoldSteps(false);
  ExpectAnswer(running, 200);
  ASSERT_TRUE(tail.WaitUntil([](FakeWorker& f) { return f.shut_down; }, 10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kWaitingForWorkers, 10s));
  ASSERT_TRUE(head.WaitUntil([](FakeWorker& f) { return !f.resets.empty(); }, 10s));
  const Json cluster = Health(status);
  EXPECT_EQ(status, 503);
  EXPECT_EQ(cluster["status"], "degraded");
  EXPECT_THAT(cluster["leaving"].get<std::string>(), HasSubstr("worker 'tail' (stage 1) left"));
  EXPECT_FALSE(cluster.contains("lost_worker"));
  EXPECT_EQ(cluster["queued_requests"], 2);
  EXPECT_TRUE(Pending(queued));
  EXPECT_TRUE(Pending(later));

  // The worker comes back under its name: re-planned, and the queue runs.
  ASSERT_TRUE(Add(Options("tail")).WaitForAnswer(10s));
  ExpectAnswer(queued, 200);
  ExpectAnswer(later, 200);
  EXPECT_EQ(Health(status)["status"], "ready");
  EXPECT_EQ(status, 200);
}

TEST_F(DrainTest, ALeavingWorkerLostBeforeItsShutdownIsALossAndFailsTheQueue) {
  auto running = StartRunning({"head", "tail"}, Limits{.kv_slots = 1, .recover = false});
  FakeWorker& tail = *workers_[1];
  auto queued = PostQueued();
  tail.Leave();
  ASSERT_TRUE(Eventually([&] { return !coordinator_->cluster().Health().leaving.empty(); }));
  tail.Drop();  // its own drain timeout passed: it went without its Shutdown
  ExpectAnswer(running, 503, "worker 'tail' (stage 1) was lost");
  ExpectAnswer(queued, 503, "worker 'tail' (stage 1) was lost");
  int status = 0;
  EXPECT_EQ(Health(status)["status"], "degraded");
}

TEST_F(DrainTest, AnIdleLeavingWorkerIsToldToGoAtOnce) {
  Start(1);
  StartServing({"idle"});
  workers_[0]->Leave();
  EXPECT_TRUE(workers_[0]->WaitUntil([](FakeWorker& f) { return f.shut_down; }, 10s));
  EXPECT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kWaitingForWorkers, 10s));
}

}  // namespace
}  // namespace strata::coordinator
