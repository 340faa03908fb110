// CreateBackend: a Backend from a spec string — the one place that knows every backend, so
// callers (the CLI, the worker, tests) choose one by name and never include a backend's
// header. Compiles without CUDA headers. Thread-safety: safe from any thread.
#pragma once

#include <memory>
#include <string_view>

#include "common/backend/backend.h"
#include "common/util/status.h"

namespace strata {

struct BackendOptions {
  // fp8 weights in prefill GEMMs: false multiplies them widened to bf16 by bf16 activations
  // (W8A16, exact weights: the default); true quantises the activations to fp8 per token
  // and runs fp8 GEMMs (W8A8: about 2.5x faster fp8 prefill, a little less accurate).
  // CUDA only; decode (GEMVs) is not affected.
  bool fp8_activations = false;
};

// spec: "cpu", "cuda" (device 0) or "cuda:N". Errors: an unknown spec or an option the
// backend lacks (kInvalidArgument); "cuda" in a build without CUDA (kUnimplemented); no GPU
// or no device N (kUnavailable, naming the device count); device memory for the backend's
// scratch (kResourceExhausted).
StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view spec,
                                                 const BackendOptions& options = {});

}  // namespace strata
