// Where a pipeline stage's activations live — what the engine's ForwardStage reads and writes
// and what a data-plane link carries. Depends on nothing, so the engine and the transport can
// both name it.
// Thread-safety: a value.
#pragma once

#include <cstdint>

namespace strata {

// kHost: host memory, copied in and out synchronously. kDevice: the backend's device memory,
// ordered by its compute stream — an input must be ready for work issued to that stream
// afterwards, an output is written by work issued to it, and nobody waits for that work.
enum class ActivationMemory : uint8_t { kHost, kDevice };

}  // namespace strata
