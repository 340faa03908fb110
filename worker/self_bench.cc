// MeasureCapabilities (see self_bench.h).
#include "worker/self_bench.h"

#include <chrono>
#include <vector>

#include "common/engine/pack_model.h"

namespace strata::worker {
namespace {

constexpr int32_t kPrefillTokens = 64;  // a short chunk: enough to leave the GEMV path

}  // namespace

StatusOr<control::v1::Capabilities> MeasureCapabilities(Backend& backend,
                                                        const std::string& pack_dir,
                                                        size_t pinned_bytes) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(pack_dir));
  const int32_t n = static_cast<int32_t>(pack.config().num_layers);
  PackModelOptions o;
  o.first_layer = n >= 3 ? n / 2 : 0;
  o.num_layers = 1;
  o.gpu_layers = 1;
  o.pinned_layers = 0;
  o.engine.max_batch_tokens = kPrefillTokens;
  o.engine.max_seq_len = kPrefillTokens;
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<PackModel> m, PackModel::Open(backend, pack_dir, o));
  const StageEstimate& e = m->stage_estimate();
  const double bytes = static_cast<double>(pack.layer_extent(o.first_layer).bytes);

  // A prefill chunk through the layer, activations in and out (the fastest of two).
  LlamaModel& model = m->model();
  const std::vector<float> in(static_cast<size_t>(kPrefillTokens * pack.config().hidden_size), 0.5f);
  std::vector<float> out(in.size());
  const std::vector<int32_t> tokens(kPrefillTokens, 0);
  double prefill_ms = 1e300;
  for (int i = 0; i < 2; ++i) {
    const int32_t slot = *model.kv_cache().Acquire();
    BatchLayout batch;
    batch.Add(slot, 0, tokens.data(), kPrefillTokens);
    const auto start = std::chrono::steady_clock::now();
    const Status st = model.ForwardStage(batch, in, out.data(), LogitsMode::kLastToken, nullptr);
    prefill_ms = std::min(prefill_ms, std::chrono::duration<double, std::milli>(
                                          std::chrono::steady_clock::now() - start).count());
    model.kv_cache().Release(slot);
    STRATA_RETURN_IF_ERROR(st);
  }

  control::v1::Capabilities caps;
  caps.set_backend(backend.caps().name);
  caps.set_gpu_bytes(backend.caps().memory_bytes);
  caps.set_pinned_bytes(pinned_bytes);
  caps.set_ssd_gbps(bytes / (std::max(e.ssd_ms, 1e-3) * 1e-3) / 1e9);
  caps.set_h2d_gbps(bytes / (std::max(e.h2d_ms, 1e-3) * 1e-3) / 1e9);
  caps.set_decode_ms_per_layer(e.compute_ms);
  caps.set_prefill_ms_per_layer(prefill_ms);
  caps.set_prefill_tokens(kPrefillTokens);
  return caps;
}

}  // namespace strata::worker
