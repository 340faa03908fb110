// MeasureLayerStages (see stage_probe.h).
#include "common/engine/stage_probe.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/engine/layer_feed.h"
#include "common/engine/llama_model.h"
#include "common/util/direct_io.h"
#include "common/util/xxh3_stream.h"

namespace strata {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// The fastest of three passes of one token's activations through `model`'s layers (the
// first warms up); no embedding or head, so any pipeline stage can be timed.
StatusOr<double> TimeOneToken(LlamaModel& model) {
  double best = 1e300;
  const std::vector<float> hidden_in(static_cast<size_t>(model.config().hidden_size), 0.5f);
  std::vector<float> hidden_out(hidden_in.size());
  for (int i = 0; i < 3; ++i) {
    const int32_t slot = *model.kv_cache().Acquire();
    BatchLayout batch;
    const int32_t token = 0;
    batch.Add(slot, 0, &token, 1);
    const auto start = std::chrono::steady_clock::now();
    const Status st =
        model.ForwardStage(batch, hidden_in, hidden_out.data(), LogitsMode::kLastToken, nullptr);
    best = std::min(best, MsSince(start));
    model.kv_cache().Release(slot);
    STRATA_RETURN_IF_ERROR(st);
  }
  return best;
}

}  // namespace

StatusOr<StageEstimate> MeasureLayerStages(Backend& backend, const Pack& pack,
                                           ExtentReader& reader, int32_t layer,
                                           size_t chunk_bytes) {
  StageEstimate est;
  const PackExtent& extent = pack.layer_extent(layer);
  const size_t piece_bytes = std::min(std::max(chunk_bytes, kDirectIoAlignment),
                                      static_cast<size_t>(extent.bytes));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer staging, backend.AllocatePinned(piece_bytes));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(extent.bytes));
  const std::unique_ptr<BackendEvent> start = backend.CreateEvent(), end = backend.CreateEvent();
  // The extent read piece by piece (reads only: the disk's time), checked, and each piece
  // copied to the device; the copies are timed by events, the last piece's copy twice (the
  // first warms the path) and scaled to the extent.
  Xxh3Stream hash;
  for (size_t off = 0; off < extent.bytes; off += piece_bytes) {
    const size_t piece = std::min(piece_bytes, static_cast<size_t>(extent.bytes) - off);
    const auto read_start = std::chrono::steady_clock::now();
    STRATA_RETURN_IF_ERROR(reader.ReadSync(extent.offset + off, piece, staging.get()));
    est.ssd_ms += MsSince(read_start);
    hash.Update(staging.get(), piece);
    backend.CopyToDevice(device.get() + off, staging.get(), piece);
  }
  STRATA_RETURN_IF_ERROR(pack.VerifyDigest(extent, hash.Digest()));
  for (int i = 0; i < 2; ++i) {  // the second copy is the one timed
    backend.RecordEvent(*start, Stream::kCopy);
    backend.CopyToDeviceAsync(device.get(), staging.get(), piece_bytes, Stream::kCopy);
    backend.RecordEvent(*end, Stream::kCopy);
    backend.WaitEvent(*end);
  }
  // The timed copy overwrote the first piece: put it back before the layer is computed.
  STRATA_RETURN_IF_ERROR(reader.ReadSync(extent.offset, piece_bytes, staging.get()));
  backend.CopyToDevice(device.get(), staging.get(), piece_bytes);
  est.h2d_ms = backend.ElapsedMs(*start, *end) * static_cast<double>(extent.bytes) /
               static_cast<double>(piece_bytes);

  STRATA_ASSIGN_OR_RETURN(LlamaLayerWeights weights, pack.BindLayer(layer, device.get()));
  ServingLimits tiny;
  tiny.max_batch_tokens = 1;
  tiny.max_seq_len = 1;
  tiny.kv_slots = 1;
  double ms[2] = {0, 0};
  for (int32_t layers = 0; layers <= 1; ++layers) {
    ModelConfig config = pack.config();
    config.num_layers = layers;
    ResidentLayers feed(std::vector<LlamaLayerWeights>(static_cast<size_t>(layers), weights));
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<LlamaModel> model,
                            LlamaModel::Create(backend, config, EndWeights{}, feed, tiny));
    STRATA_ASSIGN_OR_RETURN(ms[layers], TimeOneToken(*model));
  }
  est.compute_ms = std::max(ms[1] - ms[0], 1e-3);
  return est;
}

}  // namespace strata
