// PackModel (see pack_model.h): loading the ends, choosing tiers, wiring the executor.
#include "common/engine/pack_model.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace strata {
namespace {

size_t AvailableHostBytes() {
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
}

}  // namespace

StatusOr<std::unique_ptr<PackModel>> PackModel::Open(Backend& backend, const std::string& dir,
                                                     const PackModelOptions& options) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(dir));
  std::unique_ptr<PackModel> m(new PackModel(std::move(pack)));
  STRATA_ASSIGN_OR_RETURN(m->reader_, ExtentReader::Open(m->pack_.data_path(), options.reader));
  m->source_ = std::make_unique<PackLayerSource>(m->pack_, *m->reader_);

  size_t end_bytes = 0;
  STRATA_ASSIGN_OR_RETURN(std::byte* embed, m->LoadEnd(backend, m->pack_.embed_extent()));
  STRATA_ASSIGN_OR_RETURN(std::byte* norm, m->LoadEnd(backend, m->pack_.final_norm_extent()));
  STRATA_ASSIGN_OR_RETURN(std::byte* head, m->LoadEnd(backend, m->pack_.lm_head_extent()));
  for (const PackExtent* e : {&m->pack_.embed_extent(), &m->pack_.final_norm_extent(),
                              &m->pack_.lm_head_extent()}) {
    end_bytes += e->bytes;
  }
  EndWeights ends;
  STRATA_ASSIGN_OR_RETURN(ends.embed, m->pack_.BindEmbed(embed));
  STRATA_ASSIGN_OR_RETURN(ends.final_norm, m->pack_.BindFinalNorm(norm));
  STRATA_ASSIGN_OR_RETURN(ends.lm_head, m->pack_.BindLmHead(head));

  StreamingOptions so;
  STRATA_ASSIGN_OR_RETURN(so.tiers, m->ChooseTiers(backend, options, end_bytes));
  so.prefetch_ssd = options.prefetch_ssd;
  so.prefetch_h2d = options.prefetch_h2d;
  so.verify_streamed = options.verify_streamed;
  so.gpu_budget = options.gpu_mem;
  so.pinned_budget = options.pinned_mem;
  STRATA_ASSIGN_OR_RETURN(m->executor_, StreamingExecutor::Create(backend, *m->source_, so));
  STRATA_ASSIGN_OR_RETURN(m->model_, LlamaModel::Create(backend, m->pack_.config(), ends,
                                                        *m->executor_, options.engine));
  return m;
}

StatusOr<std::byte*> PackModel::LoadEnd(Backend& backend, const PackExtent& extent) {
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer staging, backend.AllocatePinned(extent.bytes));
  STRATA_RETURN_IF_ERROR(reader_->ReadSync(extent.offset, extent.bytes, staging.get()));
  STRATA_RETURN_IF_ERROR(pack_.VerifyExtent(extent, staging.get()));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(extent.bytes));
  backend.CopyToDevice(device.get(), staging.get(), extent.bytes);
  ends_.push_back(std::move(device));
  return ends_.back().get();
}

StatusOr<std::vector<Tier>> PackModel::ChooseTiers(Backend& backend,
                                                   const PackModelOptions& options,
                                                   size_t end_bytes) const {
  const int32_t n = static_cast<int32_t>(pack_.config().num_layers);
  std::vector<size_t> bytes(static_cast<size_t>(n));
  size_t slot = 0;
  for (int32_t l = 0; l < n; ++l) {
    bytes[static_cast<size_t>(l)] = pack_.layer_extent(l).bytes;
    slot = std::max(slot, bytes[static_cast<size_t>(l)]);
  }
  const bool explicit_counts = options.gpu_layers >= 0 || options.pinned_layers >= 0;
  if (explicit_counts) {
    const int32_t g = std::max(options.gpu_layers, 0), p = std::max(options.pinned_layers, 0);
    if (g + p > n) {
      return InvalidArgument("--gpu-layers " + std::to_string(g) + " plus --pinned-layers " +
                             std::to_string(p) + " is more than the pack's " + std::to_string(n) +
                             " layers");
    }
    std::vector<Tier> tiers(static_cast<size_t>(n), Tier::kSsd);
    std::fill(tiers.begin(), tiers.begin() + g, Tier::kGpu);
    std::fill(tiers.begin() + g, tiers.begin() + g + p, Tier::kPinned);
    return tiers;
  }
  // Budgets: what is left after the model's other memory and the staging slots.
  size_t gpu = options.gpu_mem;
  if (gpu == 0 && backend.caps().memory_bytes != 0) {
    const size_t other = end_bytes + LlamaModel::MemoryBytes(pack_.config(), options.engine);
    const size_t usable = backend.caps().memory_bytes / 10 * 9;  // headroom for the runtime
    gpu = usable > other ? usable - other : 0;
  }
  size_t pinned = options.pinned_mem != 0 ? options.pinned_mem : AvailableHostBytes() / 2;
  if (gpu == 0 && backend.caps().memory_bytes == 0) {
    return std::vector<Tier>(static_cast<size_t>(n), Tier::kGpu);  // host memory, no budget
  }
  const size_t gpu_slots = slot * static_cast<size_t>(options.prefetch_h2d + 1);
  const size_t pinned_slots = slot * static_cast<size_t>(options.prefetch_ssd + 1);
  return AssignTiers(bytes, gpu > gpu_slots ? gpu - gpu_slots : 0,
                     pinned > pinned_slots ? pinned - pinned_slots : 0);
}

}  // namespace strata
