// POST /v1/completions and POST /v1/chat/completions: a request parsed, its prompt built
// (text tokenized with BOS, token ids as given, or messages rendered with the model's chat
// template), checked against --max-seq-len, submitted to the Cluster, and answered whole or
// streamed as Server-Sent Events while tokens arrive. Text goes out through OutputText
// (whole UTF-8 characters, stop strings). A client that disconnects, a request past its
// timeout and a stop string each end the generation on the cluster at once (its sequence
// closed, its KV slot freed within one step). Accepted requests are counted until answered
// (answers()), for a drain.
// Thread-safety: Handle runs concurrently on the HTTP threads; shared state is the Cluster
// (thread-safe) and immutable members.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/serving/serving_limits.h"
#include "coordinator/api_error.h"
#include "coordinator/cluster.h"
#include "coordinator/completion_request.h"
#include "coordinator/completion_response.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/logprobs_json.h"
#include "common/loader/model_directory.h"
#include "coordinator/open_answers.h"

namespace strata::coordinator {

struct CompletionLimits {
  int32_t max_seq_len = ServingLimits{}.max_seq_len;  // the cluster's (Coordinator sets it)
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};
  // How often a waiting handler checks that its client is still connected.
  std::chrono::milliseconds client_check_interval{100};
  // A stream silent this long gets an SSE comment, so proxies keep it open.
  std::chrono::milliseconds keep_alive_interval{std::chrono::seconds(15)};
};

class RequestRecord;

class CompletionService {
 public:
  // `metrics` gets every request's outcome, latencies and tokens.
  CompletionService(Cluster& cluster, const ModelDirectory& model, CompletionLimits limits,
                    CoordinatorMetrics& metrics);

  void Handle(Endpoint endpoint, const httplib::Request& request, httplib::Response& response);
  // The requests accepted and not yet answered to the end.
  OpenAnswers& answers() { return answers_; }

 private:
  struct Stream;

  std::optional<std::vector<int32_t>> PromptIds(const CompletionRequest& r, ApiError& error) const;
  void Respond(const CompletionRequest& r, const std::shared_ptr<Generation>& generation,
               const CompletionResponse& body, RequestRecord& record,
               httplib::Response& response);
  void StartStream(const CompletionRequest& r, std::shared_ptr<Generation> generation,
                   CompletionResponse body, RequestRecord record, OpenAnswers::Ticket ticket,
                   httplib::Response& response);
  bool StreamSome(Stream& s, httplib::DataSink& sink);
  std::string NextId(Endpoint endpoint);
  ApiError Timeout() const;

  Cluster& cluster_;
  const ModelDirectory& model_;
  const CompletionLimits limits_;
  CoordinatorMetrics& metrics_;
  const int64_t started_unix_s_;
  std::atomic<uint64_t> next_request_number_{1};
  OpenAnswers answers_;
};

}  // namespace strata::coordinator
