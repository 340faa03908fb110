// MappedPack::Open: Pack::Open, map weights.bin, verify and bind every extent.
// Thread-safety: see mapped_pack.h.
#include "common/storage/mapped_pack.h"

#include <utility>

namespace strata {

StatusOr<MappedPack> MappedPack::Open(const std::string& dir) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(dir));
  STRATA_ASSIGN_OR_RETURN(MappedFile data, MappedFile::Open(pack.data_path()));
  if (data.size() != pack.data_bytes()) {
    return DataLoss("pack " + dir + ": weights.bin changed size while it was opened; " +
                    "re-create the pack with strata pack");
  }
  MappedPack m(std::move(pack), std::move(data));
  const std::byte* base = m.data_.bytes().data();
  for (const PackExtent& e : m.pack_.extents()) {
    STRATA_RETURN_IF_ERROR(m.pack_.VerifyExtent(e, base + e.offset));
  }
  const Pack& p = m.pack_;
  LlamaWeights& w = m.weights_;
  STRATA_ASSIGN_OR_RETURN(w.embed, p.BindEmbed(base + p.embed_extent().offset));
  for (int64_t i = 0; i < p.config().num_layers; ++i) {
    STRATA_ASSIGN_OR_RETURN(LlamaLayerWeights layer,
                            p.BindLayer(i, base + p.layer_extent(i).offset));
    w.layers.push_back(layer);
  }
  STRATA_ASSIGN_OR_RETURN(w.final_norm, p.BindFinalNorm(base + p.final_norm_extent().offset));
  STRATA_ASSIGN_OR_RETURN(w.lm_head, p.BindLmHead(base + p.lm_head_extent().offset));
  return m;
}

}  // namespace strata
