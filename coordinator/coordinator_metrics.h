// The coordinator's Prometheus metrics (docs/operations.md, "Coordinator metrics"): requests
// by outcome, latencies (time to first token, between tokens, end to end, queue), tokens,
// running and waiting requests, workers up, the plan's epoch and its predicted pass time
// beside the measured one, and speculative decoding's trees (tokens per verify pass, tree
// size, draft and verify time). Every family and labelled child is created here, once; callers
// only add, set and observe (worker_up children are made at a worker's registration).
// Thread-safety: prometheus-cpp metrics are thread-safe; WorkerUp may be called from any
// thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <string>

#include "coordinator/completion_request.h"

namespace strata::coordinator {

// How a completion request ended, as `outcome` labels it.
enum class Outcome {
  kStop,          // a stop id or stop string
  kLength,        // max_tokens
  kError,         // a worker failed or was lost (5xx)
  kCancelled,     // the client disconnected
  kTimeout,       // past --request-timeout-s (504)
  kInvalid,       // a 400
  kRejected,      // 429: the queue was full
  kUnauthorized,  // 401
};
inline constexpr size_t kOutcomes = 8;

enum class Phase { kPrefill, kDecode };

class CoordinatorMetrics {
 public:
  explicit CoordinatorMetrics(prometheus::Registry& registry);

  void Ended(Endpoint endpoint, Outcome outcome) {
    requests_[Index(endpoint)][static_cast<size_t>(outcome)]->Increment();
  }
  prometheus::Histogram& time_to_first_token(Endpoint e) { return *ttft_[Index(e)]; }
  prometheus::Histogram& inter_token_latency(Endpoint e) { return *itl_[Index(e)]; }
  prometheus::Histogram& request_duration(Endpoint e) { return *duration_[Index(e)]; }
  prometheus::Histogram& queue_time() { return *queue_time_; }
  prometheus::Counter& prompt_tokens() { return *prompt_tokens_; }
  prometheus::Counter& generated_tokens() { return *generated_tokens_; }
  prometheus::Gauge& requests_running() { return *running_; }
  prometheus::Gauge& requests_waiting() { return *waiting_; }
  prometheus::Gauge& plan_epoch() { return *epoch_; }
  prometheus::Gauge& pass_predicted(Phase p) { return *predicted_[static_cast<size_t>(p)]; }
  prometheus::Histogram& pass_seconds(Phase p) { return *pass_[static_cast<size_t>(p)]; }
  // Speculative decoding: per sequence and verified tree, the tokens it yielded and its
  // nodes; per step, the last stage's draft time and (steps with a tree) the round trip.
  prometheus::Histogram& speculative_tokens_per_pass() { return *tokens_per_pass_; }
  prometheus::Histogram& speculative_tree_nodes() { return *tree_nodes_; }
  prometheus::Histogram& speculative_draft_seconds() { return *draft_seconds_; }
  prometheus::Histogram& speculative_verify_seconds() { return *verify_seconds_; }
  // strata_worker_up{worker=name}; made on first use (names are bounded by the cluster).
  prometheus::Gauge& WorkerUp(const std::string& name) { return worker_up_.Add({{"worker", name}}); }

 private:
  static size_t Index(Endpoint e) { return e == Endpoint::kChatCompletions ? 1 : 0; }

  std::array<std::array<prometheus::Counter*, kOutcomes>, 2> requests_{};
  std::array<prometheus::Histogram*, 2> ttft_{}, itl_{}, duration_{};
  prometheus::Histogram* queue_time_ = nullptr;
  prometheus::Counter* prompt_tokens_ = nullptr;
  prometheus::Counter* generated_tokens_ = nullptr;
  prometheus::Gauge* running_ = nullptr;
  prometheus::Gauge* waiting_ = nullptr;
  prometheus::Gauge* epoch_ = nullptr;
  std::array<prometheus::Gauge*, 2> predicted_{};
  std::array<prometheus::Histogram*, 2> pass_{};
  prometheus::Histogram* tokens_per_pass_ = nullptr;
  prometheus::Histogram* tree_nodes_ = nullptr;
  prometheus::Histogram* draft_seconds_ = nullptr;
  prometheus::Histogram* verify_seconds_ = nullptr;
  prometheus::Family<prometheus::Gauge>& worker_up_;
};

}  // namespace strata::coordinator
