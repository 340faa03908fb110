// Clients that hang up, against real workers: the scenario of issue 11 (clients that time out
// held every KV slot, and the next short request waited 43 s). Four clients start long
// generations on a 2-worker cluster with 4 KV slots and disconnect (two mid-stream, two while
// waiting for a whole response); their sequences are closed on the workers within a step or
// two, far fewer passes run than their generations would take, and the next request is
// answered at once with the ids it gets on an idle cluster.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/raw_http_client.h"
#include "tests/support/eventually.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string PostBytes(const json& body) {
  const std::string text = body.dump();
  return "POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
         "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
}

TEST(HangUpTest, ClientsThatHangUpFreeTheirSlotsAndTheNextRequestRunsAtOnce) {
  setenv("UCX_TLS", "tcp", 1);
  ClusterLayout layout;
  layout.workers = 2;
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(std::chrono::seconds(120)));
  const json short_request = {{"prompt", "Water boils at"}, {"max_tokens", 16},
                              {"temperature", 0}, {"return_token_ids", true}};
  const auto [alone_status, alone] = cluster.Complete(short_request);
  ASSERT_EQ(alone_status, 200) << alone.dump();

  // Alone, a generation of kLongTokens takes a pass per token (a prefill pass that samples
  // the first, then one decode pass for each of the others): the yardstick.
  const int64_t long_passes = kLongTokens;
  const int64_t before = cluster.Field("pipeline_passes");
  const json long_request = {{"prompt", "x"}, {"max_tokens", kLongTokens}};
  std::vector<std::unique_ptr<RawHttpClient>> clients;
  for (int i = 0; i < 4; ++i) {
    json body = long_request;
    body["stream"] = i % 2 == 0;
    clients.push_back(std::make_unique<RawHttpClient>(cluster.http_port()));
    ASSERT_TRUE(clients.back()->Send(PostBytes(body)));
  }
  ASSERT_TRUE(Eventually([&] { return cluster.Field("open_sequences") == 4; }, 5s))
      << cluster.Logs();
  const auto hung_up = Clock::now();
  clients.clear();  // every client closes its connection
  ASSERT_TRUE(Eventually([&] { return cluster.Field("open_sequences") == 0; }, 5s))
      << cluster.Logs();
  const double freed_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - hung_up).count();
  const int64_t passes = cluster.Field("pipeline_passes") - before;
  std::printf("4 clients hung up: slots free after %.0f ms; %lld passes ran (one long "
              "generation alone takes %lld)\n",
              freed_ms, static_cast<long long>(passes), static_cast<long long>(long_passes));
  EXPECT_LT(passes, long_passes / 4);

  const auto start = Clock::now();
  const auto [status, after] = cluster.Complete(short_request);
  ASSERT_EQ(status, 200) << after.dump();
  EXPECT_EQ(after["choices"][0]["token_ids"], alone["choices"][0]["token_ids"]);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 10.0);
}

}  // namespace
}  // namespace strata::testing
