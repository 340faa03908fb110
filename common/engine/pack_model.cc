// PackModel (see pack_model.h): loading the ends, wiring the executor and the model.
#include "common/engine/pack_model.h"

#include <algorithm>
#include <string>

#include "common/util/direct_io.h"
#include "common/util/xxh3_stream.h"

namespace strata {

StatusOr<std::unique_ptr<PackModel>> PackModel::Open(Backend& backend, const std::string& dir,
                                                     const PackModelOptions& options) {
  STRATA_ASSIGN_OR_RETURN(Pack pack, Pack::Open(dir));
  const int64_t pack_layers = pack.config().num_layers;
  const int64_t first = options.first_layer;
  STRATA_ASSIGN_OR_RETURN(const int64_t count, pack.LayerRange(first, options.num_layers));
  ModelConfig config = pack.config();
  config.num_layers = count;
  std::unique_ptr<PackModel> m(new PackModel(std::move(pack)));
  m->first_layer_ = static_cast<int32_t>(first);
  ReaderOptions reader = options.reader;
  reader.max_reads = std::max(reader.max_reads, options.streaming.staging_chunks);
  STRATA_ASSIGN_OR_RETURN(m->reader_, ExtentReader::Open(m->pack_.data_path(), reader));
  m->source_ = std::make_unique<PackLayerSource>(m->pack_, *m->reader_, m->first_layer_,
                                                 static_cast<int32_t>(count));

  // The stage with the first layer embeds; the one with the last layer has the head.
  const size_t chunk = std::max(options.streaming.chunk_bytes, kDirectIoAlignment);
  EndWeights ends;
  if (first == 0) {
    m->embed_on_gpu_ = options.embed_on_gpu;
    const std::byte* embed = nullptr;
    if (options.embed_on_gpu) {
      STRATA_ASSIGN_OR_RETURN(embed, m->LoadEnd(backend, m->pack_.embed_extent(), chunk));
    } else {
      STRATA_ASSIGN_OR_RETURN(embed, m->MapEmbedding());
      ends.embed_on_host = true;
    }
    STRATA_ASSIGN_OR_RETURN(ends.embed, m->pack_.BindEmbed(embed));
  }
  if (first + count == pack_layers) {
    STRATA_ASSIGN_OR_RETURN(std::byte* norm,
                            m->LoadEnd(backend, m->pack_.final_norm_extent(), chunk));
    STRATA_ASSIGN_OR_RETURN(std::byte* head, m->LoadEnd(backend, m->pack_.lm_head_extent(), chunk));
    STRATA_ASSIGN_OR_RETURN(ends.final_norm, m->pack_.BindFinalNorm(norm));
    STRATA_ASSIGN_OR_RETURN(ends.lm_head, m->pack_.BindLmHead(head));
  }
  STRATA_ASSIGN_OR_RETURN(m->executor_,
                          StreamingExecutor::Create(backend, *m->source_, options.streaming));
  STRATA_ASSIGN_OR_RETURN(m->model_, LlamaModel::Create(backend, config, ends, *m->executor_,
                                                        options.engine));
  return m;
}

StatusOr<std::byte*> PackModel::LoadEnd(Backend& backend, const PackExtent& extent,
                                        size_t chunk_bytes) {
  const size_t piece_bytes = std::min(chunk_bytes, extent.bytes);
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer staging, backend.AllocatePinned(piece_bytes));
  STRATA_ASSIGN_OR_RETURN(DeviceBuffer device, backend.Allocate(extent.bytes));
  Xxh3Stream hash;
  for (size_t off = 0; off < extent.bytes; off += piece_bytes) {
    const size_t piece = std::min(piece_bytes, extent.bytes - off);
    STRATA_RETURN_IF_ERROR(reader_->ReadSync(extent.offset + off, piece, staging.get()));
    hash.Update(staging.get(), piece);
    backend.CopyToDevice(device.get() + off, staging.get(), piece);
  }
  STRATA_RETURN_IF_ERROR(pack_.VerifyDigest(extent, hash.Digest()));
  end_gpu_bytes_ += extent.bytes;
  ends_.push_back(std::move(device));
  return ends_.back().get();
}

StatusOr<const std::byte*> PackModel::MapEmbedding() {
  STRATA_ASSIGN_OR_RETURN(map_, MappedFile::Open(pack_.data_path()));
  const PackExtent& extent = pack_.embed_extent();
  if (extent.offset + extent.bytes > map_.size()) {
    return DataLoss("pack " + pack_.dir() + ": weights.bin ends before the embedding table; "
                    "re-create the pack with strata pack");
  }
  const std::byte* table = map_.bytes().data() + extent.offset;
  STRATA_RETURN_IF_ERROR(pack_.VerifyExtent(extent, table));
  return table;
}

}  // namespace strata
