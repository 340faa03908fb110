// PackLayerSource (see pack_layer_source.h).
#include "common/engine/pack_layer_source.h"

#include <string>

namespace strata {
namespace {

Status ReadFailure(const ReadCompletion& c) {
  return c.status.WithContext("reading layer " + std::to_string(c.tag));
}

}  // namespace

int32_t PackLayerSource::num_layers() const {
  return static_cast<int32_t>(pack_.config().num_layers);
}

size_t PackLayerSource::extent_bytes(int32_t layer) const {
  return pack_.layer_extent(layer).bytes;
}

StatusOr<LlamaLayerWeights> PackLayerSource::Bind(int32_t layer, const std::byte* base) const {
  return pack_.BindLayer(layer, base);
}

Status PackLayerSource::Verify(int32_t layer, const std::byte* base) const {
  return pack_.VerifyExtent(pack_.layer_extent(layer), base);
}

Status PackLayerSource::SubmitRead(int32_t layer, std::byte* dst) {
  const PackExtent& e = pack_.layer_extent(layer);
  return reader_.Submit(static_cast<uint64_t>(layer), e.offset, e.bytes, dst);
}

StatusOr<int32_t> PackLayerSource::WaitRead() {
  const ReadCompletion c = reader_.WaitAny();
  if (!c.status.ok()) return ReadFailure(c);
  return static_cast<int32_t>(c.tag);
}

StatusOr<bool> PackLayerSource::PollRead(int32_t* layer) {
  ReadCompletion c;
  if (!reader_.Poll(&c)) return false;
  if (!c.status.ok()) return ReadFailure(c);
  *layer = static_cast<int32_t>(c.tag);
  return true;
}

}  // namespace strata
