// The worker's Prometheus metrics over a real 2-stage pipeline of the tiny fixture (CPU
// backends, UCX on loopback): stage 0 holds layers [0, 3) as GPU, pinned and SSD, stage 1
// layers [3, 6) as pinned, SSD, SSD. After a prefill step and decode steps, each worker's
// exposition has one layer-stage observation per layer-pass in its tier's histograms (none
// for a stage the tier skips), bytes read and copied as the placement implies, per-layer
// gauges for exactly its layers (replaced by a new assignment, gone without one), layers per
// tier, passes and tokens by phase, link counters that grow with the steps, KV slots; and
// `promtool check metrics` finds nothing to fix in the names. And a worker's MetricsServer
// serves them over HTTP.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "common/backend/backend_factory.h"
#include "common/storage/pack.h"
#include "common/storage/pack_writer.h"
#include "common/metrics/metrics_server.h"
#include "tests/unit/worker/stage_messages.h"
#include "tests/support/promtool.h"
#include "tests/support/raw_http_client.h"
#include "tests/support/reference_fixture.h"
#include "tests/support/temp_dir.h"
#include "worker/stage.h"
#include "worker/worker_metrics.h"

namespace strata::worker {
namespace {

using testing::TempDir;

constexpr int32_t kDecodeSteps = 3;

// One sample of the text exposition: its name, labels and value.
struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<PromSample> Parse(const std::string& text) {
  std::vector<PromSample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    PromSample s;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    size_t rest = space;
    if (brace != std::string::npos && brace < space) {
      s.name = line.substr(0, brace);
      const size_t close = line.rfind('}');
      std::string body = line.substr(brace + 1, close - brace - 1);
      // k="v",k="v" (values here hold no quotes or commas)
      size_t i = 0;
      while (i < body.size()) {
        const size_t eq = body.find('=', i);
        const size_t end = body.find('"', eq + 2);
        s.labels[body.substr(i, eq - i)] = body.substr(eq + 2, end - eq - 2);
        i = end + 2;
      }
    } else {
      s.name = line.substr(0, rest);
    }
    s.value = std::strtod(line.c_str() + space + 1, nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

// The samples of `name` whose labels include `want`.
std::vector<PromSample> Find(const std::vector<PromSample>& all, const std::string& name,
                             const std::map<std::string, std::string>& want = {}) {
  std::vector<PromSample> out;
  for (const PromSample& s : all) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = s.labels.find(k);
      match &= it != s.labels.end() && it->second == v;
    }
    if (match) out.push_back(s);
  }
  return out;
}

// The one sample of `name` with labels `want`; NaN when there is not exactly one.
double Value(const std::vector<PromSample>& all, const std::string& name,
             const std::map<std::string, std::string>& want = {}) {
  const std::vector<PromSample> found = Find(all, name, want);
  return found.size() == 1 ? found[0].value : std::nan("");
}

std::string Render(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

class WorkerMetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("UCX_TLS", "tcp", 1);
    dir_ = new TempDir("worker-metrics");
    PackOptions o;
    o.model_dir = strata::testing::TinyModelDir();
    o.out_dir = dir_->File("pack");
    ASSERT_TRUE(WritePack(o).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      StatusOr<std::unique_ptr<Backend>> b = CreateBackend("cpu");
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      backends_.push_back(std::move(b).value());
    }
  }

  // Stage `stage` of 2 over [first, first + 3): `gpu` layers on the GPU, `pinned` pinned, the
  // rest read whole from the SSD.
  static control::v1::Assignment Assign(int32_t stage, int32_t first, int32_t gpu,
                                        int32_t pinned) {
    control::v1::Assignment a;
    a.set_epoch(1);
    a.set_stage(stage);
    a.set_num_stages(2);
    a.set_first_layer(first);
    a.set_num_layers(3);
    a.set_gpu_layers(gpu);
    a.set_pinned_layers(pinned);
    a.set_gpu_slots(1);
    a.set_staging_chunks(2);
    a.set_chunk_bytes(8192);
    a.set_max_batch_tokens(64);
    a.set_max_seq_len(128);
    a.set_kv_slots(2);
    a.set_transport("ucx");
    return a;
  }

  static control::v1::OpenSequence Open(uint64_t id, int32_t prompt) {
    return testing::OpenGreedy(id, prompt);
  }

  static control::v1::Step Step(uint64_t step_id, int32_t start, const std::vector<int32_t>& tokens) {
    return testing::OneSequenceStep(step_id, /*seq=*/7, start, tokens);
  }

  static TempDir* dir_;
  std::vector<std::unique_ptr<Backend>> backends_;
};

TempDir* WorkerMetricsTest::dir_ = nullptr;

TEST_F(WorkerMetricsTest, AStagesPassesShowInItsWorkersMetrics) {
  StageOptions so;
  so.pack_dir = dir_->File("pack");
  so.link.bind_host = "127.0.0.1";
  so.link.token = "test-cluster-token";
  std::vector<std::unique_ptr<Stage>> stages;
  for (const control::v1::Assignment& a : {Assign(0, 0, 1, 1), Assign(1, 3, 0, 1)}) {
    StatusOr<std::unique_ptr<Stage>> st = Stage::Create(*backends_.at(stages.size()), a, so);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    stages.push_back(std::move(st).value());
  }
  std::future<Status> second =
      std::async(std::launch::async, [&] { return stages[1]->Connect(""); });
  ASSERT_TRUE(stages[0]->Connect(stages[1]->data_address()).ok());
  ASSERT_TRUE(second.get().ok());

  prometheus::Registry r0, r1;
  WorkerMetrics m0(r0, "w0", *backends_[0], 0), m1(r1, "w1", *backends_[1], 0);
  m0.SetCeilings({2.5, 12.0, std::nullopt, std::nullopt, ""});
  m0.Assigned(*stages[0]);
  m1.Assigned(*stages[1]);

  const std::vector<int32_t>& prompt = strata::testing::ReferenceCases()[1].input_ids;
  const auto n_prompt = static_cast<int32_t>(prompt.size());
  for (auto& s : stages) ASSERT_TRUE(s->OpenSequence(Open(7, n_prompt)).ok());
  m0.SequencesChanged(*stages[0]);
  // A prefill step, then decode steps, each through both stages.
  std::vector<int32_t> tokens = prompt;
  int32_t pos = 0;
  for (int32_t i = 0; i <= kDecodeSteps; ++i) {
    StepOutput first = stages[0]->RunStep(Step(1 + i, pos, tokens));
    ASSERT_TRUE(first.status.ok()) << first.status.ToString();
    EXPECT_EQ(first.prefill, i == 0);
    EXPECT_EQ(first.step_tokens, static_cast<int32_t>(tokens.size()));
    m0.StepDone(*stages[0], first);
    StatusOr<std::optional<StepOutput>> got = stages[1]->RunReceived(std::chrono::seconds(10));
    ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
    ASSERT_TRUE((*got)->status.ok()) << (*got)->status.ToString();
    ASSERT_EQ((*got)->tokens.size(), 1u);
    m1.StepDone(*stages[1], **got);
    pos += static_cast<int32_t>(tokens.size());
    tokens = {(*got)->tokens[0].token};
  }

  const std::vector<PromSample> w0 = Parse(Render(r0)), w1 = Parse(Render(r1));
  // Every sample carries its worker's name.
  for (const PromSample& s : w0) EXPECT_EQ(s.labels.at("worker"), "w0") << s.name;
  for (const PromSample& s : w1) EXPECT_EQ(s.labels.at("worker"), "w1") << s.name;

  // One observation per layer-pass in each stage the tier goes through, none in the others.
  const auto count = [](const std::vector<PromSample>& w, const char* stage, const char* phase,
                        const char* tier) {
    return Value(w, "strata_worker_layer_stage_seconds_count",
                 {{"stage", stage}, {"phase", phase}, {"tier", tier}});
  };
  for (const char* stage : {"compute", "wait"}) {
    EXPECT_EQ(count(w0, stage, "prefill", "gpu"), 1) << stage;
    EXPECT_EQ(count(w0, stage, "decode", "gpu"), kDecodeSteps) << stage;
    EXPECT_EQ(count(w0, stage, "decode", "pinned"), kDecodeSteps) << stage;
    EXPECT_EQ(count(w0, stage, "decode", "ssd"), kDecodeSteps) << stage;
    EXPECT_EQ(count(w1, stage, "decode", "gpu"), 0) << stage;
    EXPECT_EQ(count(w1, stage, "decode", "pinned"), kDecodeSteps) << stage;
    EXPECT_EQ(count(w1, stage, "prefill", "ssd"), 2) << stage;
    EXPECT_EQ(count(w1, stage, "decode", "ssd"), 2 * kDecodeSteps) << stage;
  }
  EXPECT_EQ(count(w0, "h2d", "decode", "gpu"), 0);
  EXPECT_EQ(count(w0, "h2d", "decode", "pinned"), kDecodeSteps);
  EXPECT_EQ(count(w0, "h2d", "decode", "ssd"), kDecodeSteps);
  EXPECT_EQ(count(w0, "ssd_read", "decode", "pinned"), 0);
  EXPECT_EQ(count(w0, "ssd_read", "decode", "ssd"), kDecodeSteps);
  EXPECT_EQ(count(w1, "ssd_read", "decode", "ssd"), 2 * kDecodeSteps);
  EXPECT_GT(Value(w0, "strata_worker_layer_stage_seconds_sum",
                  {{"stage", "compute"}, {"phase", "prefill"}, {"tier", "gpu"}}),
            0);

  // Bytes as the placement implies: every pass reads each SSD layer whole and copies every
  // streamed layer whole (no GPU prefixes here).
  const Pack pack = std::move(Pack::Open(dir_->File("pack"))).value();
  const auto extent = [&](int32_t l) { return static_cast<double>(pack.layer_extent(l).bytes); };
  constexpr double kPasses = 1 + kDecodeSteps;
  EXPECT_EQ(Value(w0, "strata_worker_read_bytes_total"), kPasses * extent(2));
  EXPECT_EQ(Value(w0, "strata_worker_h2d_bytes_total"), kPasses * (extent(1) + extent(2)));
  EXPECT_EQ(Value(w1, "strata_worker_read_bytes_total"), kPasses * (extent(4) + extent(5)));
  EXPECT_EQ(Value(w1, "strata_worker_h2d_bytes_total"),
            kPasses * (extent(3) + extent(4) + extent(5)));

  // Per-layer gauges for exactly the stage's layers, each stage of each.
  const auto layers = [](const std::vector<PromSample>& w) {
    std::multiset<std::string> out;
    for (const PromSample& s : Find(w, "strata_worker_layer_last_seconds")) {
      out.insert(s.labels.at("layer"));
    }
    return out;
  };
  EXPECT_EQ(layers(w0), (std::multiset<std::string>{"0", "0", "0", "0", "1", "1", "1", "1",
                                                     "2", "2", "2", "2"}));
  EXPECT_EQ(layers(w1), (std::multiset<std::string>{"3", "3", "3", "3", "4", "4", "4", "4",
                                                     "5", "5", "5", "5"}));
  EXPECT_GT(Value(w1, "strata_worker_layer_last_seconds", {{"layer", "5"}, {"stage", "compute"}}), 0);
  EXPECT_EQ(Value(w0, "strata_worker_layer_last_seconds", {{"layer", "0"}, {"stage", "h2d"}}), 0);

  EXPECT_EQ(Value(w0, "strata_worker_layers", {{"tier", "gpu"}}), 1);
  EXPECT_EQ(Value(w0, "strata_worker_layers", {{"tier", "pinned"}}), 1);
  EXPECT_EQ(Value(w0, "strata_worker_layers", {{"tier", "ssd"}}), 1);
  EXPECT_EQ(Value(w1, "strata_worker_layers", {{"tier", "ssd"}}), 2);
  EXPECT_EQ(Value(w0, "strata_worker_staging_chunks"), 2);
  EXPECT_EQ(Value(w0, "strata_worker_gpu_slots"), 1);

  for (const auto* w : {&w0, &w1}) {
    EXPECT_EQ(Value(*w, "strata_worker_passes_total", {{"phase", "prefill"}}), 1);
    EXPECT_EQ(Value(*w, "strata_worker_passes_total", {{"phase", "decode"}}), kDecodeSteps);
    EXPECT_EQ(Value(*w, "strata_worker_pass_seconds_count", {{"phase", "decode"}}), kDecodeSteps);
    EXPECT_EQ(Value(*w, "strata_worker_pass_tokens_sum", {{"phase", "prefill"}}), n_prompt);
    EXPECT_EQ(Value(*w, "strata_worker_pass_tokens_sum", {{"phase", "decode"}}), kDecodeSteps);
    const double overlap = Value(*w, "strata_worker_overlap_efficiency", {{"phase", "decode"}});
    // Each stage runs its layers one after another, so no stage's total exceeds the pass.
    EXPECT_TRUE(std::isfinite(overlap) && overlap > 0 && overlap <= 1.0 + 1e-6) << overlap;
    EXPECT_EQ(Value(*w, "strata_worker_kv_slots"), 2);
  }
  EXPECT_EQ(Value(w0, "strata_worker_kv_slots_in_use"), 1);

  // The link: stage 0 sends every step, stage 1 receives every step.
  EXPECT_EQ(Value(w0, "strata_worker_link_messages_total", {{"direction", "send"}}), kPasses);
  EXPECT_EQ(Value(w0, "strata_worker_link_messages_total", {{"direction", "receive"}}), 0);
  EXPECT_EQ(Value(w1, "strata_worker_link_messages_total", {{"direction", "receive"}}), kPasses);
  EXPECT_EQ(Value(w0, "strata_worker_link_bytes_total", {{"direction", "send"}}),
            static_cast<double>(stages[0]->sent_stats().payload_bytes));
  EXPECT_GT(Value(w0, "strata_worker_link_bytes_total", {{"direction", "send"}}), 0);
  EXPECT_GT(Value(w1, "strata_worker_link_seconds_total", {{"direction", "receive"}}), 0);

  // Ceilings: the figures given, in bytes per second; none measured on a CPU backend.
  EXPECT_EQ(Value(w0, "strata_worker_ceiling_bytes_per_second", {{"resource", "disk_read"}}), 2.5e9);
  EXPECT_EQ(Value(w0, "strata_worker_ceiling_bytes_per_second", {{"resource", "h2d"}}), 12e9);
  EXPECT_TRUE(Find(w0, "strata_worker_ceiling_bytes_per_second", {{"resource", "hbm_read"}}).empty());
  EXPECT_TRUE(Find(w0, "strata_worker_ceiling_flops").empty());
  EXPECT_TRUE(Find(w0, "strata_worker_gpu_memory_bytes").empty());  // host memory

  // A new assignment replaces the per-layer gauges; none without one.
  m1.Assigned(*stages[0]);
  EXPECT_EQ(layers(Parse(Render(r1))), layers(w0));
  m1.Unassigned();
  EXPECT_TRUE(layers(Parse(Render(r1))).empty());
  EXPECT_EQ(Value(Parse(Render(r1)), "strata_worker_layers", {{"tier", "ssd"}}), 0);

  // promtool lists what breaks Prometheus's naming rules.
  EXPECT_EQ(strata::testing::PromtoolReport(Render(r0)), "");
}

TEST_F(WorkerMetricsTest, TheMetricsServerServesTheWorkersMetrics) {
  StatusOr<std::unique_ptr<metrics::MetricsServer>> server =
      metrics::MetricsServer::Start("127.0.0.1:0", "--metrics-address");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_GT((*server)->port(), 0);
  WorkerMetrics m((*server)->registry(), "node-a", *backends_[0], 0);
  m.SetCeilings({1.5, 3.0, std::nullopt, std::nullopt, ""});
  strata::testing::RawHttpClient client((*server)->port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  const strata::testing::RawHttpClient::Response got = client.Read();
  EXPECT_EQ(got.status, 200) << got.headers;
  const std::vector<PromSample> samples = Parse(got.body);
  EXPECT_EQ(Value(samples, "strata_worker_ceiling_bytes_per_second",
                  {{"worker", "node-a"}, {"resource", "disk_read"}}),
            1.5e9);
  EXPECT_EQ(Value(samples, "strata_worker_passes_total", {{"worker", "node-a"}, {"phase", "decode"}}),
            0);
}

}  // namespace
}  // namespace strata::worker
