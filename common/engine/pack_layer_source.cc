// PackLayerSource (see pack_layer_source.h).
#include "common/engine/pack_layer_source.h"

#include <string>

#include "common/util/check.h"

namespace strata {
namespace {

// A reader tag carries the read's id: the layer in the high 32 bits, the piece in the low.
uint64_t Tag(ReadId id) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(id.layer)) << 32) |
         static_cast<uint32_t>(id.piece);
}

ReadId IdOf(uint64_t tag) {
  return {static_cast<int32_t>(tag >> 32), static_cast<int32_t>(tag & 0xffffffffu)};
}

// A read that failed is the pack's data lost to this process, whatever the cause.
Status ReadFailure(const ReadCompletion& c, int32_t first, const std::string& path) {
  return DataLoss("reading layer " + std::to_string(first + IdOf(c.tag).layer) + " from " + path +
                  ": " + c.status.message());
}

}  // namespace

PackLayerSource::PackLayerSource(const Pack& pack, ExtentReader& reader, int32_t first,
                                 int32_t count)
    : pack_(pack), reader_(reader), first_(first), count_(count) {
  STRATA_CHECK(first >= 0 && count >= 0 && first + count <= pack.config().num_layers);
}

int32_t PackLayerSource::num_layers() const { return count_; }

size_t PackLayerSource::extent_bytes(int32_t layer) const { return extent(layer).bytes; }

StatusOr<LlamaLayerWeights> PackLayerSource::Bind(int32_t layer, const std::byte* base) const {
  return pack_.BindLayer(first_ + layer, base);
}

StatusOr<LlamaLayerWeights> PackLayerSource::BindSplit(int32_t layer, const std::byte* prefix,
                                                       size_t split,
                                                       const std::byte* rest) const {
  return pack_.BindLayerSplit(first_ + layer, prefix, split, rest);
}

std::vector<uint64_t> PackLayerSource::SplitPoints(int32_t layer) const {
  return ExtentSplitPoints(extent(layer));
}

Status PackLayerSource::Verify(int32_t layer, const std::byte* base) const {
  return pack_.VerifyExtent(extent(layer), base);
}

Status PackLayerSource::VerifyDigest(int32_t layer, uint64_t xxh3) const {
  return pack_.VerifyDigest(extent(layer), xxh3);
}

Status PackLayerSource::SubmitRead(ReadId id, size_t offset, size_t bytes, std::byte* dst) {
  const PackExtent& e = extent(id.layer);
  STRATA_CHECK(offset + bytes <= e.bytes);
  return reader_.Submit(Tag(id), e.offset + offset, bytes, dst);
}

StatusOr<ReadId> PackLayerSource::WaitRead() {
  const ReadCompletion c = reader_.WaitAny();
  if (!c.status.ok()) return ReadFailure(c, first_, pack_.data_path());
  return IdOf(c.tag);
}

StatusOr<bool> PackLayerSource::PollRead(ReadId* id) {
  ReadCompletion c;
  if (!reader_.Poll(&c)) return false;
  if (!c.status.ok()) return ReadFailure(c, first_, pack_.data_path());
  *id = IdOf(c.tag);
  return true;
}

}  // namespace strata
