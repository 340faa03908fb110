// The CUDA backend's entry point for code that must not see CUDA headers (the backend
// factory): no CUDA types here. Thread-safety: safe from any thread.
#pragma once

#include <memory>

#include "common/backend/backend.h"
#include "common/util/status.h"

namespace strata::cuda {

// A CudaBackend on device `device`. kUnavailable (naming the device count) when there is no
// usable GPU or no such device; kResourceExhausted when its scratch does not fit.
// fp8_activations: prefill GEMMs of fp8 weights in W8A8 (Fp8Prefill::kFp8Activations).
StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device, bool fp8_activations = false);

}  // namespace strata::cuda
