// The fixture of the coordinator's in-process tests: a real Coordinator (gRPC control on
// 127.0.0.1:0, the HTTP API through an httplib client) with fake workers as clients
// (fake_worker.h). Thread-safety: one test thread drives it; clients may run concurrently.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/coordinator.h"
#include "tests/unit/coordinator/fake_worker.h"

namespace strata::coordinator::testing {

using namespace std::chrono_literals;

inline constexpr const char* kToken = "s3cret-cluster-token";
inline constexpr int32_t kEot = 128009;  // <|eot_id|>, a stop id of the fixture
inline const std::string kModelDir = std::string(STRATA_TEST_FIXTURES) + "/tiny-llama31";

struct Limits {
  int32_t max_batch_tokens = 512;
  int32_t kv_slots = 8;
  int32_t max_seq_len = 256;
  std::chrono::milliseconds request_timeout = 30s;
  std::optional<LinkSpec> link = std::nullopt;
  std::optional<int32_t> max_queued_requests = std::nullopt;
  std::optional<std::string> api_key = std::nullopt;
  std::vector<std::string> served_model_names = {};
  std::chrono::milliseconds http_read_timeout = 10s;
  std::chrono::milliseconds step_timeout = 10s;
  bool recover = true;
  std::chrono::milliseconds recover_timeout = 30s;
  std::optional<ClusterSpeculation> speculation = std::nullopt;
};

class CoordinatorTest : public ::testing::Test {
 protected:
  void Start(int32_t workers, Limits limits = {}) {
    StatusOr<ModelDirectory> model = LoadModelDirectory(kModelDir);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    config_ = model->config;
    CoordinatorConfig config;
    config.http_address = "127.0.0.1:0";
    config.control_address = "127.0.0.1:0";
    config.metrics_address = "127.0.0.1:0";
    config.cluster_token = kToken;
    config.cluster.expected_workers = workers;
    config.cluster.limits = {limits.max_batch_tokens, limits.max_seq_len, limits.kv_slots};
    config.cluster.heartbeat_interval = 50ms;
    config.cluster.missed_heartbeats_for_loss = 20;  // lost after 1 s of silence
    config.http.completions.request_timeout = limits.request_timeout;
    config.cluster.max_queued_requests = limits.max_queued_requests;
    config.http.api_key = limits.api_key;
    config.served_model_names = limits.served_model_names;
    config.http.read_timeout = limits.http_read_timeout;
    config.cluster.link = limits.link;
    config.cluster.step_timeout = limits.step_timeout;
    config.cluster.recover = limits.recover;
    config.cluster.speculation = limits.speculation;
    config.cluster.recover_timeout = limits.recover_timeout;
    config.registration_timeout = 300ms;
    auto started = Coordinator::Start(std::move(config), std::move(*model));
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    coordinator_ = std::move(*started);
    http_ = std::make_unique<httplib::Client>("127.0.0.1", coordinator_->http_port());
    http_->set_read_timeout(60, 0);
  }

  FakeWorkerOptions Options(const std::string& name) {
    FakeWorkerOptions o;
    o.name = name;
    o.token = kToken;
    o.pack = testing::PackIdentityFor(config_);
    return o;
  }
  FakeWorker& Add(FakeWorkerOptions options) {
    workers_.push_back(
        std::make_unique<FakeWorker>(coordinator_->control_port(), std::move(options), &plane_));
    return *workers_.back();
  }
  // Registers workers with these names and waits until the cluster serves.
  void StartServing(const std::vector<std::string>& names) {
    for (const std::string& name : names) ASSERT_TRUE(Add(Options(name)).WaitForAnswer(10s));
    ASSERT_TRUE(coordinator_->cluster().WaitForState(ClusterState::kServing, 10s));
  }

  httplib::Result Complete(const nlohmann::json& body) {
    return http_->Post("/v1/completions", body.dump(), "application/json");
  }
  // GET /v1/cluster's JSON; `status` is GET /ready's answer.
  nlohmann::json Health(int& status) {
    const auto ready = http_->Get("/ready");
    status = ready ? ready->status : -1;
    const auto res = http_->Get("/v1/cluster");
    return res ? nlohmann::json::parse(res->body) : nlohmann::json();
  }

  ModelConfig config_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<httplib::Client> http_;
  FakeDataPlane plane_;
  std::vector<std::unique_ptr<FakeWorker>> workers_;  // destroyed before the coordinator
};

}  // namespace strata::coordinator::testing
