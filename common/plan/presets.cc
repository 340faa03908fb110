// The seed figures (see presets.h).
#include "common/plan/presets.h"

#include "common/model/llama_presets.h"
#include "common/plan/model_spec.h"

namespace strata {
namespace {

constexpr size_t kFp8LayerBytes = 844'000'000;    // seed-measurements.md
constexpr size_t kBf16LayerBytes = 1'710'000'000;  // seed-measurements.md, H100 table
constexpr int64_t kVocab = 128256;
constexpr size_t kGiB = size_t{1} << 30;

}  // namespace

ModelSpec Llama31_70B(PackDType dtype) {
  const ModelSpec written = ModelSpecFor(*LlamaPresetConfig("llama-3.1-70b", 80, kVocab), dtype);
  // The seed's measured layer bytes (the seed analysis reproduces its figures from them);
  // the split points of the writer's layout below them. int4 has no seed figure: the
  // writer's layout (group size 128).
  switch (dtype) {
    case PackDType::kFP8: return WithLayerBytes(written, kFp8LayerBytes);
    case PackDType::kBF16: return WithLayerBytes(written, kBf16LayerBytes);
    case PackDType::kInt4: break;
  }
  return written;
}

WorkerSpec Rtx5080Node(PackDType dtype) {
  WorkerSpec w;
  w.name = "rtx5080";
  w.gpu_mem = 16 * kGiB / 10 * 9;
  w.pinned_mem = 48 * kGiB;
  w.ssd_gbps = 4.45;
  w.h2d_gbps = 41.53;
  w.prefill_ms = 172.92;
  w.prefill_tokens = 2048;
  w.decode_ms = 2.45;
  // Measured with fp8 layers; a decode step reads every weight byte, so it scales with them.
  w.decode_ms *= static_cast<double>(Llama31_70B(dtype).layer_bytes) /
                 static_cast<double>(kFp8LayerBytes);
  return w;
}

}  // namespace strata
