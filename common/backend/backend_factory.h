// CreateBackend: a Backend from a spec string — the one place that knows every backend, so
// callers (the CLI, the worker, tests) choose one by name and never include a backend's
// header. Compiles without CUDA headers. Thread-safety: safe from any thread.
#pragma once

#include <memory>
#include <string_view>

#include "common/backend/backend.h"
#include "common/util/status.h"

namespace strata {

// spec: "cpu", "cuda" (device 0) or "cuda:N". Errors: an unknown spec (kInvalidArgument);
// "cuda" in a build without CUDA (kUnimplemented); no GPU or no device N (kUnavailable,
// naming the device count); device memory for the backend's scratch (kResourceExhausted).
StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view spec);

}  // namespace strata
