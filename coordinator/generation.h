// One completion request as the scheduler runs it: the prompt's ids and limits going in,
// the generated ids, finish reason or error coming out. The HTTP handler that submitted it
// waits on `changed_cv` under the Cluster's lock; the scheduler appends each sampled id and
// finally sets `done` under that same lock, notifying `changed_cv` every time (a stream
// sends each token as it comes). Thread-safety: guarded by the Cluster's mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/serving/sampling_params.h"
#include "common/util/status.h"

namespace strata::coordinator {

// A sampled id's log-probability under the model's distribution and the most likely ids
// with theirs (most likely first).
struct SampledLogprobs {
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};

struct Generation {
  std::vector<int32_t> prompt;  // BOS included, never empty
  int32_t max_tokens = 16;
  SamplingParams sampling;
  bool logprobs = false;     // report `output_logprobs`
  int32_t top_logprobs = 0;  // alternatives per token (with logprobs)
  std::chrono::steady_clock::time_point submitted_at;  // set by the scheduler on Submit

  std::vector<int32_t> output;  // sampled ids, a stop id included when it ended the request
  std::vector<SampledLogprobs> output_logprobs;  // one per output id, with logprobs
  std::string finish_reason;    // "stop" | "length" once done without error
  Status error;                 // not OK when the request failed
  bool done = false;
  std::condition_variable changed_cv;  // a new id in `output`, or `done`
};

}  // namespace strata::coordinator
