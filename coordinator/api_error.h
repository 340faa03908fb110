// Errors for API clients in OpenAI's shape, {"error": {"message", "type", "param", "code"}},
// with their HTTP status. Messages say what is wrong and what to do; they never echo a
// credential. Thread-safety: values and pure functions.
#pragma once

#include <httplib.h>

#include <string>

#include "common/util/status.h"

namespace strata::coordinator {

// Retry-After seconds: a cluster that is not serving (it re-plans within seconds of a worker
// rejoining), and one at capacity (a slot frees within a few decode steps).
inline constexpr int kRetryAfterUnavailableS = 5;
inline constexpr int kRetryAfterBusyS = 1;

struct ApiError {
  int http_status = 400;
  std::string message;  // what is wrong and what to do
  std::string type = "invalid_request_error";
  std::string param;  // the field at fault; empty: null
  std::string code;   // empty: null
  int retry_after_s = 0;  // > 0: sent as Retry-After (429, 503)

  std::string ToJson() const;
};

// A 400 for request field `param` (empty: the body as a whole).
ApiError InvalidRequest(const std::string& param, const std::string& message);

// The error for a request the cluster could not take or finish: kUnavailable is a 503
// (retry later), kResourceExhausted a 429 (at capacity), anything else a 500.
ApiError ServerError(const Status& status);

// Sets `response` to `error`: status, JSON body, Retry-After when given.
void SendError(httplib::Response& response, const ApiError& error);

}  // namespace strata::coordinator
