// ApiError (see api_error.h).
#include "coordinator/api_error.h"

#include <nlohmann/json.hpp>

namespace strata::coordinator {

std::string ApiError::ToJson() const {
  using Json = nlohmann::json;
  const Json e = {{"message", message},
                  {"type", type},
                  {"param", param.empty() ? Json(nullptr) : Json(param)},
                  {"code", code.empty() ? Json(nullptr) : Json(code)}};
  return Json{{"error", e}}.dump();
}

ApiError InvalidRequest(const std::string& param, const std::string& message) {
  return ApiError{400, message, "invalid_request_error", param, "", 0};
}

ApiError ServerError(const Status& status) {
  switch (status.code()) {
    case StatusCode::kUnavailable:
      return ApiError{503, status.message(), "server_error", "", "cluster_unavailable",
                      kRetryAfterUnavailableS};
    case StatusCode::kResourceExhausted:
      return ApiError{429, status.message(), "rate_limit_error", "", "server_at_capacity",
                      kRetryAfterBusyS};
    default:
      return ApiError{500, status.message(), "server_error", "", "worker_error", 0};
  }
}

void SendError(httplib::Response& response, const ApiError& error) {
  response.status = error.http_status;
  if (error.retry_after_s > 0) {
    response.set_header("Retry-After", std::to_string(error.retry_after_s));
  }
  response.set_content(error.ToJson(), "application/json");
}

}  // namespace strata::coordinator
