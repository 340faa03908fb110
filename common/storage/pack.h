// A Strata pack opened for reading: the validated manifest (config, dtype, extent table),
// the path of weights.bin, weight views over an extent's bytes wherever they sit (a GPU
// slot, a pinned staging slot or a memory map), and checksum verification of an extent.
// Reading the bytes is the caller's: ExtentReader (extent_reader.h) for streaming,
// MappedPack (mapped_pack.h) for everything resident.
// Thread-safety: immutable after Open; every method may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/model/config.h"
#include "common/model/llama_weights.h"
#include "common/storage/pack_format.h"
#include "common/util/status.h"

namespace strata {

class Pack {
 public:
  // Reads and validates DIR/manifest.json against itself, its config and the size of
  // DIR/weights.bin. Errors name DIR and, where one is at fault, the extent and tensor: no
  // directory or no manifest.json (kNotFound); a `.partial-` directory that an interrupted
  // strata pack left (kFailedPrecondition); another format or version (kInvalidArgument); an
  // invalid config (ParseModelConfig's error); anything ValidatePackManifest rejects, or a
  // missing weights.bin (kDataLoss). Checksums are not read here: see VerifyExtent.
  static StatusOr<Pack> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return manifest_.config; }
  PackDType dtype() const { return manifest_.dtype; }
  const std::string& source() const { return manifest_.source; }
  const std::string& data_path() const { return data_path_; }  // DIR/weights.bin
  uint64_t data_bytes() const { return manifest_.data_bytes; }

  // Canonical order: embed, layer.0 .. layer.{L-1}, final_norm, lm_head; each extent's
  // tensors in ExtentTensorSpecs order (a layer's in kLayerFields order).
  const std::vector<PackExtent>& extents() const { return manifest_.extents; }
  const PackExtent& embed_extent() const { return extents().front(); }
  const PackExtent& layer_extent(int64_t layer) const;  // layer in [0, num_layers)
  const PackExtent& final_norm_extent() const { return extents()[extents().size() - 2]; }
  const PackExtent& lm_head_extent() const { return extents().back(); }

  // Views over the tensors of an extent whose first byte is at `extent_base` (which only
  // needs float alignment; it is never dereferenced, so device memory is fine). fp8 views
  // carry their scales, int4 views their groups and the permutation Open bound
  // (PackTensor::bound_perm_offset: one array for the equal permutations of an input, none
  // for the identity). Errors (kInvalidArgument): a null or misaligned base, a layer out of
  // range.
  // The number of layers in [first, first + count) (count -1: to the last layer), or
  // kInvalidArgument naming the pack when the range is empty or not inside it.
  StatusOr<int32_t> LayerRange(int64_t first, int64_t count) const;

  StatusOr<LlamaLayerWeights> BindLayer(int64_t layer, const std::byte* extent_base) const;
  // The same over an extent cut at `split` (one of ExtentSplitPoints): the arrays before it
  // at `prefix_base` + their offset, the others at `rest_base` + (their offset - split).
  StatusOr<LlamaLayerWeights> BindLayerSplit(int64_t layer, const std::byte* prefix_base,
                                             uint64_t split, const std::byte* rest_base) const;
  StatusOr<WeightView> BindEmbed(const std::byte* extent_base) const;
  StatusOr<WeightView> BindFinalNorm(const std::byte* extent_base) const;
  StatusOr<WeightView> BindLmHead(const std::byte* extent_base) const;

  // Hashes `extent.bytes` host bytes at `bytes` and compares with the manifest. kDataLoss
  // naming the pack, the extent and both checksums on a mismatch.
  Status VerifyExtent(const PackExtent& extent, const std::byte* bytes) const;
  // The same check of an XXH3 the caller computed over the extent's bytes (piece by piece).
  Status VerifyDigest(const PackExtent& extent, uint64_t xxh3) const;

 private:
  Pack() = default;
  std::string dir_;
  std::string data_path_;
  PackManifest manifest_;  // extents validated and in canonical order
};

}  // namespace strata
