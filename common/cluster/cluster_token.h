// The shared cluster token that authenticates workers to the coordinator: read from a file
// (so it never shows in a process list), compared in constant time.
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

// Equality that takes the same time wherever the strings first differ.
bool TokensEqual(std::string_view a, std::string_view b);

}  // namespace strata::cluster
