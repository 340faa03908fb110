// PackLayerSource (see pack_layer_source.h).
#include "common/engine/pack_layer_source.h"

#include <string>

#include "common/util/check.h"

namespace strata {
namespace {

Status ReadFailure(const ReadCompletion& c, int32_t first) {
  return c.status.WithContext("reading layer " +
                              std::to_string(first + static_cast<int64_t>(c.tag)));
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

Status PackLayerSource::Verify(int32_t layer, const std::byte* base) const {
  return pack_.VerifyExtent(extent(layer), base);
}

Status PackLayerSource::SubmitRead(int32_t layer, std::byte* dst) {
  const PackExtent& e = extent(layer);
  return reader_.Submit(static_cast<uint64_t>(layer), e.offset, e.bytes, dst);
}

StatusOr<int32_t> PackLayerSource::WaitRead() {
  const ReadCompletion c = reader_.WaitAny();
  if (!c.status.ok()) return ReadFailure(c, first_);
  return static_cast<int32_t>(c.tag);
}

StatusOr<bool> PackLayerSource::PollRead(int32_t* layer) {
  ReadCompletion c;
  if (!reader_.Poll(&c)) return false;
  if (!c.status.ok()) return ReadFailure(c, first_);
  *layer = static_cast<int32_t>(c.tag);
  return true;
}

}  // namespace strata
