// PackLayerSource: a contiguous range of a pack's decoder layers as the streaming executor's
// LayerSource — extent sizes and bindings from the manifest, reads through an ExtentReader,
// checksums by xxh3. Source layer i is the pack's layer first + i.
// Thread-safety: driven by the executor's thread (as the reader is).
#pragma once

#include "common/engine/layer_source.h"
#include "common/storage/extent_reader.h"
#include "common/storage/pack.h"

namespace strata {

class PackLayerSource final : public LayerSource {
 public:
  // Both must outlive this source; [first, first + count) must be layers of the pack.
  PackLayerSource(const Pack& pack, ExtentReader& reader, int32_t first, int32_t count);
  // All the pack's layers.
  PackLayerSource(const Pack& pack, ExtentReader& reader)
      : PackLayerSource(pack, reader, 0, static_cast<int32_t>(pack.config().num_layers)) {}

  int32_t num_layers() const override;
  size_t extent_bytes(int32_t layer) const override;
  StatusOr<LlamaLayerWeights> Bind(int32_t layer, const std::byte* base) const override;
  StatusOr<LlamaLayerWeights> BindSplit(int32_t layer, const std::byte* prefix, size_t split,
                                        const std::byte* rest) const override;
  std::vector<uint64_t> SplitPoints(int32_t layer) const override;
  Status Verify(int32_t layer, const std::byte* base) const override;
  Status VerifyDigest(int32_t layer, uint64_t xxh3) const override;
  Status SubmitRead(ReadId id, size_t offset, size_t bytes, std::byte* dst) override;
  int32_t max_reads() const override { return reader_.max_reads(); }
  StatusOr<ReadId> WaitRead() override;
  StatusOr<bool> PollRead(ReadId* id) override;
  std::string_view read_path() const override { return reader_.path_kind(); }

 private:
  const PackExtent& extent(int32_t layer) const { return pack_.layer_extent(first_ + layer); }

  const Pack& pack_;
  ExtentReader& reader_;
  int32_t first_;
  int32_t count_;
};

}  // namespace strata
