// Measures what one decoder layer of a pack costs on a backend, for the planner: one read of
// its extent from the SSD, one copy to the device, and its compute for one decode token (a
// one-layer model's pass minus a no-layer model's, so neither embedding nor head counts).
// Thread-safety: uses the backend and reader from the calling thread only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/backend/backend.h"
#include "common/storage/extent_reader.h"
#include "common/storage/pack.h"

namespace strata {

struct StageEstimate {
  double ssd_ms = 0;
  double h2d_ms = 0;
  double compute_ms = 0;
};

// Times pack layer `layer`, staging it through one pinned buffer of `chunk_bytes` (the
// executor's read size), so the probe needs no more pinned memory than one staging chunk;
// the layer itself is held in device memory while its compute is timed. The reader must have
// no read pending. Errors: the read's, a corrupt extent (kDataLoss), memory
// (kResourceExhausted).
StatusOr<StageEstimate> MeasureLayerStages(Backend& backend, const Pack& pack,
                                           ExtentReader& reader, int32_t layer,
                                           size_t chunk_bytes);

}  // namespace strata
