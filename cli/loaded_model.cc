// LoadModel and friends (see loaded_model.h).
#include "cli/loaded_model.h"

#include <filesystem>

#include "common/util/byte_size.h"
#include "common/backend/backend_factory.h"
#include "common/loader/model_directory.h"
#include "common/model/hf_int4_weights.h"
#include "common/storage/pack.h"

namespace strata::cli {

namespace {

StatusOr<LoadedModel> LoadCheckpoint(const ModelFlags& f, const ServingLimits& engine,
                                     LoadedModel m) {
  if (f.backend != "cpu") {
    return InvalidArgument("--backend " + f.backend + " runs Strata packs; create one with " +
                           "`strata pack --model " + f.model + " --out PACK_DIR`");
  }
  if (f.gpu_layers >= 0 || f.pinned_layers >= 0 || !f.gpu_mem.empty() || !f.pinned_mem.empty()) {
    return InvalidArgument("--gpu-layers, --pinned-layers, --gpu-mem and --pinned-mem apply to "
                           "Strata packs; create one with `strata pack`");
  }
  STRATA_ASSIGN_OR_RETURN(Checkpoint ckpt, Checkpoint::Open(f.model));
  m.checkpoint = std::make_unique<Checkpoint>(std::move(ckpt));
  STRATA_ASSIGN_OR_RETURN(CheckpointWeights weights, LoadCheckpointWeights(*m.checkpoint));
  m.converted = std::move(weights.converted);  // the views below point into these buffers
  STRATA_ASSIGN_OR_RETURN(m.resident, LlamaModel::CreateResident(*m.backend, m.checkpoint->config(),
                                                                 std::move(weights.weights), engine));
  return m;
}

}  // namespace

StatusOr<LoadedModel> LoadModel(const ModelFlags& f, const ServingLimits& engine) {
  LoadedModel m;
  STRATA_ASSIGN_OR_RETURN(m.backend,
                          CreateBackend(f.backend, BackendOptions{f.fp8_activations}));
  if (!IsPackDirectory(f.model)) return LoadCheckpoint(f, engine, std::move(m));
  PackPlacementRequest r;
  r.overrides.gpu_layers = f.gpu_layers;
  r.overrides.pinned_layers = f.pinned_layers;
  r.overrides.prefetch_ssd = f.prefetch_ssd;
  r.overrides.prefetch_h2d = f.prefetch_h2d;
  r.verify_streamed = f.verify_streamed;
  if (!f.gpu_mem.empty()) {
    STRATA_ASSIGN_OR_RETURN(r.gpu_mem, ParseByteSize("--gpu-mem", f.gpu_mem));
  }
  if (!f.pinned_mem.empty()) {
    STRATA_ASSIGN_OR_RETURN(r.pinned_mem, ParseByteSize("--pinned-mem", f.pinned_mem));
  }
  r.engine = engine;
  r.decode_batch = engine.kv_slots;
  STRATA_ASSIGN_OR_RETURN(m.placement, PlacePack(*m.backend, f.model, r));
  STRATA_ASSIGN_OR_RETURN(m.pack, PackModel::Open(*m.backend, f.model, m.placement->options));
  return m;
}

}  // namespace strata::cli
