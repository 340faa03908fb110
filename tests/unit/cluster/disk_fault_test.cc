// A disk fault under a running cluster (a coordinator and a CPU worker on a copy of the tiny
// fixture's pack, with budgets under which every layer streams from the pack on every pass): after a byte of a streamed layer is damaged, the next request fails at once with an error naming the worker,
// the layer and the file; the worker reports it as a fault of its own and stops (exit code 1,
// never computing on the damaged bytes); the coordinator drops it (degraded, new requests
// 503) and /v1/cluster says why; a restored pack and a restarted worker serve the same ids again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "common/storage/pack.h"
#include "tests/support/eventually.h"
#include "tests/support/flip_byte.h"
#include "tests/unit/cluster/cluster_harness.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

json Greedy(int max_tokens) {
  return {{"prompt", "The capital of France is"}, {"max_tokens", max_tokens},
          {"temperature", 0}, {"return_token_ids", true}};
}

TEST(DiskFaultTest, ADamagedStreamedLayerFailsFastNamesItselfAndStopsTheWorker) {
  setenv("UCX_TLS", "tcp", 1);
  TempDir dir("disk_fault");
  const std::string pack = dir.File("pack");
  std::filesystem::copy(FixturePackDir(), pack);
  ClusterLayout layout;
  layout.workers = 1;
  layout.pack = pack;
  StatusOr<Pack> opened = Pack::Open(pack);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  layout.worker_args = {StreamEveryLayer(*opened, 1, 0)};
  TestCluster cluster(layout);
  ASSERT_TRUE(cluster.WaitReady(120s));
  cli::ChildProcess& worker = cluster.children()[1];
  ASSERT_THAT(cli::LogTail(worker.log_path(), 20),
              HasSubstr("layers [0, 6) (0 on the GPU, 0 pinned)")) << cluster.Logs();
  const auto [ok_status, ok_body] = cluster.Complete(Greedy(6));
  ASSERT_EQ(ok_status, 200) << ok_body.dump() << cluster.Logs();

  // The last byte of layer 5's extent: past any GPU prefix, read from the disk every pass.
  const PackExtent& layer5 = opened->layer_extent(5);
  FlipByte(opened->data_path(), layer5.offset + layer5.bytes - 1);

  const auto start = Clock::now();
  const auto [status, body] = cluster.Complete(Greedy(6));
  EXPECT_LT(Clock::now() - start, 10s);
  ASSERT_EQ(status, 500) << body.dump() << cluster.Logs();
  const std::string error = body["error"]["message"].get<std::string>();
  EXPECT_THAT(error, HasSubstr("worker-0"));
  EXPECT_THAT(error, HasSubstr("layer 5"));
  EXPECT_THAT(error, HasSubstr(opened->data_path()));
  EXPECT_THAT(error, HasSubstr("checksum mismatch"));

  // The worker stops rather than serve again from the damaged pack.
  Eventually([&] { return !worker.Running(); }, 10s);
  EXPECT_EQ(worker.exit_description(), "exited with code 1") << cluster.Logs();
  EXPECT_THAT(cli::LogTail(worker.log_path(), 20), HasSubstr("this worker stops"));
  // The coordinator dropped it: degraded, and it says which worker and why.
  const json state = cluster.ClusterState();
  EXPECT_EQ(state["status"], "degraded") << state.dump();
  EXPECT_THAT(state["lost_worker"].get<std::string>(), HasSubstr("worker-0"));
  EXPECT_THAT(state["lost_worker"].get<std::string>(), HasSubstr("a fault of its own"));
  const auto [after, after_body] = cluster.Complete(Greedy(6));
  EXPECT_EQ(after, 503) << after_body.dump();

  // Repaired (the byte flipped back) and restarted, the worker serves the same ids.
  FlipByte(opened->data_path(), layer5.offset + layer5.bytes - 1);
  cluster.StartWorker(0);
  ASSERT_TRUE(Eventually([&] { return cluster.ClusterState().value("status", "") == "ready"; },
                         60s)) << cluster.Logs();
  const auto [again, again_body] = cluster.Complete(Greedy(6));
  ASSERT_EQ(again, 200) << again_body.dump();
  EXPECT_EQ(again_body["choices"][0]["token_ids"], ok_body["choices"][0]["token_ids"]);
}

}  // namespace
}  // namespace strata::testing
