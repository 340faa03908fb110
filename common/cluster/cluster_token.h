// The shared cluster token that authenticates workers to the coordinator and to each other
// (the data plane's hello): read from a file, so it never shows in a process list; compared
// with SecretsEqual (common/util/secret.h).
// Thread-safety: functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace strata::cluster {

// The file's content without surrounding whitespace. Errors name the path: unreadable
// (kNotFound / kFailedPrecondition), empty or with whitespace or control characters inside
// (kInvalidArgument), readable by others than the owner is allowed but logged by callers.
// `what` names the secret in messages ("cluster token", "API key").
StatusOr<std::string> ReadTokenFile(const std::string& path, std::string_view what = "cluster token");

}  // namespace strata::cluster
