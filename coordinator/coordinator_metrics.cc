// CoordinatorMetrics (see coordinator_metrics.h).
#include "coordinator/coordinator_metrics.h"

#include "common/metrics/metrics_server.h"

namespace strata::coordinator {

namespace {

constexpr const char* kEndpoints[] = {"completions", "chat"};
constexpr const char* kOutcomeNames[kOutcomes] = {"stop",    "length",  "error",       "cancelled",
                                                  "timeout", "invalid", "rejected_429",
                                                  "unauthorized"};
constexpr const char* kPhases[] = {"prefill", "decode"};

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(prometheus::Registry& registry)
    : worker_up_(prometheus::BuildGauge()
                     .Name("strata_worker_up")
                     .Help("1 while the worker is registered, 0 once lost")
                     .Register(registry)) {
  auto& requests = prometheus::BuildCounter()
                       .Name("strata_requests_total")
                       .Help("Completion requests by endpoint and how they ended")
                       .Register(registry);
  auto& ttft = prometheus::BuildHistogram()
                   .Name("strata_time_to_first_token_seconds")
                   .Help("From a request's arrival to its first token")
                   .Register(registry);
  auto& itl = prometheus::BuildHistogram()
                  .Name("strata_inter_token_latency_seconds")
                  .Help("Between two tokens of one request, as its handler receives them")
                  .Register(registry);
  auto& duration = prometheus::BuildHistogram()
                       .Name("strata_request_duration_seconds")
                       .Help("From a request's arrival to its last token")
                       .Register(registry);
  for (size_t e = 0; e < 2; ++e) {
    for (size_t o = 0; o < kOutcomes; ++o) {
      requests_[e][o] = &requests.Add({{"endpoint", kEndpoints[e]}, {"outcome", kOutcomeNames[o]}});
    }
    ttft_[e] = &ttft.Add({{"endpoint", kEndpoints[e]}}, metrics::RequestBuckets());
    itl_[e] = &itl.Add({{"endpoint", kEndpoints[e]}}, metrics::StepBuckets());
    duration_[e] = &duration.Add({{"endpoint", kEndpoints[e]}}, metrics::RequestBuckets());
  }
  queue_time_ = &prometheus::BuildHistogram()
                     .Name("strata_queue_time_seconds")
                     .Help("From submission to the sequence being opened on the workers")
                     .Register(registry)
                     .Add({}, metrics::RequestBuckets());
  prompt_tokens_ = &prometheus::BuildCounter()
                        .Name("strata_prompt_tokens_total")
                        .Help("Tokens in the prompts of accepted requests")
                        .Register(registry)
                        .Add({});
  generated_tokens_ = &prometheus::BuildCounter()
                           .Name("strata_generated_tokens_total")
                           .Help("Tokens generated")
                           .Register(registry)
                           .Add({});
  running_ = &prometheus::BuildGauge()
                  .Name("strata_requests_running")
                  .Help("Sequences open on the workers")
                  .Register(registry)
                  .Add({});
  waiting_ = &prometheus::BuildGauge()
                  .Name("strata_requests_waiting")
                  .Help("Requests queued for a sequence slot")
                  .Register(registry)
                  .Add({});
  epoch_ = &prometheus::BuildGauge()
                .Name("strata_plan_epoch")
                .Help("The current plan's epoch")
                .Register(registry)
                .Add({});
  auto& predicted = prometheus::BuildGauge()
                        .Name("strata_pass_predicted_seconds")
                        .Help("The plan's predicted time of one pass through every stage")
                        .Register(registry);
  auto& pass = prometheus::BuildHistogram()
                   .Name("strata_pass_seconds")
                   .Help("A step's measured round trip from the coordinator through every stage")
                   .Register(registry);
  for (size_t p = 0; p < 2; ++p) {
    predicted_[p] = &predicted.Add({{"phase", kPhases[p]}});
    pass_[p] = &pass.Add({{"phase", kPhases[p]}}, metrics::StepBuckets());
  }
  // Counts per tree: 1, 2, 3, 4, 6, 8, … 512 (a tree has at most kMaxTreeRows nodes).
  const prometheus::Histogram::BucketBoundaries counts = {1,  2,  3,  4,   6,   8,   12,  16,
                                                          24, 32, 48, 64, 128, 256, 512};
  tokens_per_pass_ = &prometheus::BuildHistogram()
                          .Name("strata_speculative_tokens_per_pass")
                          .Help("Tokens a speculating sequence's verify pass yielded: its "
                                "accepted tree nodes and one more")
                          .Register(registry)
                          .Add({}, counts);
  tree_nodes_ = &prometheus::BuildHistogram()
                     .Name("strata_speculative_tree_nodes")
                     .Help("Nodes of each token tree a pass verified")
                     .Register(registry)
                     .Add({}, counts);
  draft_seconds_ = &prometheus::BuildHistogram()
                        .Name("strata_speculative_draft_seconds")
                        .Help("The last stage's time in its draft model for a step")
                        .Register(registry)
                        .Add({}, metrics::StepBuckets());
  verify_seconds_ = &prometheus::BuildHistogram()
                         .Name("strata_speculative_verify_seconds")
                         .Help("The round trip of a step that verified a token tree")
                         .Register(registry)
                         .Add({}, metrics::StepBuckets());
}

}  // namespace strata::coordinator
