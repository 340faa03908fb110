// The per-layer, per-pass stage timings the streaming executor records (the tiers and layer
// homes it executes are common/storage/tiers.h). Thread-safety: plain values.
#pragma once

#include <vector>

namespace strata {

// One layer's stage times in one pass, in milliseconds (0 where the tier skips a stage).
struct LayerTiming {
  float ssd_read_ms = 0;  // its chunks' reads, each from its start (submitted, the previous
                          // read seen done, or the pass's start, whichever is last) to done
  float h2d_ms = 0;       // copies into the GPU staging slot (pinned part and SSD chunks)
  float compute_ms = 0;   // the layer's ops on the compute stream
  float wait_ms = 0;      // host blocked in Acquire waiting for the layer
};

struct PassTiming {
  std::vector<LayerTiming> layers;  // (num_layers)
  double wall_ms = 0;               // BeginPass -> end of the last layer's compute
};

}  // namespace strata
