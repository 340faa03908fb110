// The OpenAI-compatible HTTP API on cpp-httplib: POST /v1/completions (non-streaming),
// GET /v1/models and GET /health. A completion is tokenized (BOS as the tokenizer's
// post-processor adds it), validated against --max-seq-len, submitted to the Cluster and
// waited for up to the request timeout (then 504). Errors are OpenAI-style JSON bodies; the
// server keeps serving after any bad input.
// Thread-safety: httplib runs handlers on its thread pool; the handlers share only the
// Cluster (thread-safe) and immutable state. Bind and Serve from one thread, Stop from any.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "coordinator/cluster.h"
#include "coordinator/model_info.h"

namespace strata::coordinator {

struct HttpOptions {
  int32_t max_seq_len = 4096;
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};
  int32_t threads = 64;  // requests handled at once (each waits for its completion)
};

class HttpApi {
 public:
  HttpApi(Cluster& cluster, const ModelInfo& model, HttpOptions options);

  // Binds host:port (port 0: any free port) and returns the bound port.
  StatusOr<int> Bind(const std::string& host, int port);
  // Serves until Stop; call after Bind.
  void Serve();
  // Returns once Serve accepts connections (so a Stop that follows is not lost).
  void WaitUntilServing() const;
  void Stop();

 private:
  void Completions(const httplib::Request& request, httplib::Response& response);
  void Health(httplib::Response& response) const;
  void Models(httplib::Response& response) const;

  Cluster& cluster_;
  const ModelInfo& model_;
  const HttpOptions options_;
  const int64_t started_unix_s_;
  std::atomic<uint64_t> next_request_number_{1};
  httplib::Server server_;
};

}  // namespace strata::coordinator
