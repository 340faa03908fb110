// The figures `strata plan` assumes when a flag is not given: an RTX 5080 node and
// Llama 3.1 70B, from ../shared/design/seed-measurements.md. Thread-safety: pure functions.
#pragma once

#include "common/plan/cost_model.h"
#include "common/storage/pack_format.h"

namespace strata {

// Llama 3.1 70B in a pack of `dtype`: 80 layers of 0.844 GB (fp8, measured) or 1.71 GB
// (bf16), cut between tensors where the pack writer's layout puts them (its split points
// below those bytes); the embedding and LM head stay bf16 in both (128256 × 8192 × 2 bytes
// each); activations (8192 fp32 per token) and the KV cache (8 KV heads × 128 × K and V,
// fp32) as the engine keeps them.
ModelSpec Llama31_70B(PackDType dtype);

// One RTX 5080 node (16 GiB): 90% of it for the model, as the engine's default budget;
// 48 GiB pinned; the seed's SSD (4.45 GB/s) and H2D (41.53 GB/s); compute per layer 172.92
// ms for 2048 prefill tokens and 2.45 ms per decode token — measured on fp8 weights. For
// bf16, decode is scaled by the weight bytes (a decode step reads every weight once);
// prefill is kept (the seed's prefill is far from the GPU's arithmetic limit).
WorkerSpec Rtx5080Node(PackDType dtype);

}  // namespace strata
