// The coordinator's /metrics, scraped over HTTP from a real Coordinator with a fake worker:
// requests counted by endpoint and outcome (length, stop, invalid, unauthorized, 429,
// cancelled), latency histograms counted once per request or token, tokens, running and
// waiting gauges, the plan's epoch and predicted pass time beside the measured passes,
// workers up and down; and `promtool check metrics` finds nothing to fix in the names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <future>
#include <regex>

#include "tests/support/promtool.h"
#include "tests/support/raw_http_client.h"
#include "tests/unit/coordinator/coordinator_fixture.h"

namespace strata::coordinator {
namespace {

using testing::CoordinatorTest;
using testing::FakeWorker;
using testing::FakeWorkerOptions;
using testing::Limits;
using Json = nlohmann::json;
using namespace std::chrono_literals;

class CoordinatorMetricsTest : public CoordinatorTest {
 protected:
  std::string Scrape() {
    httplib::Client client("127.0.0.1", coordinator_->metrics_port());
    const auto res = client.Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    return res ? res->body : std::string();
  }
  // The value of the sample `series` (name{labels} exactly as exposed), or -1 if absent.
  static double Sample(const std::string& text, const std::string& series) {
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
  }
  httplib::Result Post(const Json& body, const httplib::Headers& headers = {}) {
    return http_->Post("/v1/completions", headers, body.dump(), "application/json");
  }
};

TEST_F(CoordinatorMetricsTest, CountsRequestsTokensLatenciesAndThePlan) {
  Start(1, Limits{.kv_slots = 1, .max_queued_requests = 0, .api_key = "k"});
  FakeWorkerOptions o = Options("w0");
  o.step_time = 5ms;
  FakeWorker& worker = Add(o);
  ASSERT_TRUE(worker.WaitForAnswer(10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  const httplib::Headers key = {{"Authorization", "Bearer k"}};

  for (int i = 0; i < 3; ++i) {
    const auto res = Post({{"prompt", "x"}, {"max_tokens", 4}}, key);
    ASSERT_TRUE(res && res->status == 200);
  }
  ASSERT_EQ(Post({{"prompt", "x"}, {"max_tokens", 0}}, key)->status, 400);
  ASSERT_EQ(Post({{"prompt", "x"}})->status, 401);
  // One running (kv_slots 1), no queue: the next is a 429.
  auto running = std::async(std::launch::async, [&] {
    httplib::Client c("127.0.0.1", coordinator_->http_port());
    return c.Post("/v1/completions", key, Json{{"prompt", "x"}, {"max_tokens", 40}}.dump(),
                  "application/json")->status;
  });
  for (int i = 0; i < 400 && Sample(Scrape(), "strata_requests_running") != 1; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(Sample(Scrape(), "strata_requests_running"), 1);
  ASSERT_EQ(Post({{"prompt", "x"}}, key)->status, 429);
  EXPECT_EQ(running.get(), 200);

  const std::string text = Scrape();
  const auto requests = [&](const char* outcome) {
    return Sample(text, std::string("strata_requests_total{endpoint=\"completions\",outcome=\"") +
                            outcome + "\"}");
  };
  EXPECT_EQ(requests("length"), 4);
  EXPECT_EQ(requests("invalid"), 1);
  EXPECT_EQ(requests("unauthorized"), 1);
  EXPECT_EQ(requests("rejected_429"), 1);
  EXPECT_EQ(requests("error"), 0);
  EXPECT_EQ(Sample(text, "strata_generated_tokens_total"), 3 * 4 + 40);
  EXPECT_GT(Sample(text, "strata_prompt_tokens_total"), 0);
  EXPECT_EQ(Sample(text, "strata_time_to_first_token_seconds_count{endpoint=\"completions\"}"), 4);
  EXPECT_EQ(Sample(text, "strata_inter_token_latency_seconds_count{endpoint=\"completions\"}"),
            3 * 3 + 39);
  EXPECT_EQ(Sample(text, "strata_request_duration_seconds_count{endpoint=\"completions\"}"), 4);
  EXPECT_EQ(Sample(text, "strata_queue_time_seconds_count"), 4);
  EXPECT_EQ(Sample(text, "strata_requests_running"), 0);
  EXPECT_EQ(Sample(text, "strata_requests_waiting"), 0);
  EXPECT_EQ(Sample(text, "strata_plan_epoch"), 1);
  EXPECT_GT(Sample(text, "strata_pass_predicted_seconds{phase=\"decode\"}"), 0);
  EXPECT_GT(Sample(text, "strata_pass_predicted_seconds{phase=\"prefill\"}"), 0);
  EXPECT_EQ(Sample(text, "strata_pass_seconds_count{phase=\"prefill\"}"), 4);
  EXPECT_EQ(Sample(text, "strata_pass_seconds_count{phase=\"decode\"}"), 3 * 3 + 39);
  // Each decode pass took at least the fake's 5 ms step.
  EXPECT_GE(Sample(text, "strata_pass_seconds_sum{phase=\"decode\"}"), (3 * 3 + 39) * 0.005);
  EXPECT_EQ(Sample(text, "strata_worker_up{worker=\"w0\"}"), 1);

  worker.Drop();
  for (int i = 0; i < 400 && Sample(Scrape(), "strata_worker_up{worker=\"w0\"}") != 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(Sample(Scrape(), "strata_worker_up{worker=\"w0\"}"), 0);
}

TEST_F(CoordinatorMetricsTest, AHungUpStreamIsCancelledAndPromtoolFindsNothingToFix) {
  Start(1);
  FakeWorkerOptions o = Options("w0");
  o.step_time = 10ms;
  ASSERT_TRUE(Add(o).WaitForAnswer(10s));
  ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  {
    strata::testing::RawHttpClient client(coordinator_->http_port());
    const std::string body = Json{{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})},
                                  {"max_tokens", 100}, {"stream", true}}.dump();
    ASSERT_TRUE(client.Send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body));
    std::this_thread::sleep_for(100ms);
  }  // hangs up
  std::string text;
  for (int i = 0; i < 400; ++i) {
    text = Scrape();
    if (Sample(text, "strata_requests_total{endpoint=\"chat\",outcome=\"cancelled\"}") == 1) break;
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(Sample(text, "strata_requests_total{endpoint=\"chat\",outcome=\"cancelled\"}"), 1);
  EXPECT_EQ(Sample(text, "strata_time_to_first_token_seconds_count{endpoint=\"chat\"}"), 1);

  // promtool lists what breaks Prometheus's naming rules.
  EXPECT_EQ(strata::testing::PromtoolReport(text), "");
}

}  // namespace
}  // namespace strata::coordinator
