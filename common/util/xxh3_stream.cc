// Xxh3Stream over libxxhash's streaming XXH3 state (see xxh3_stream.h).
#include "common/util/xxh3_stream.h"

#include <xxhash.h>

#include "common/util/check.h"

namespace strata {

void Xxh3Stream::Free::operator()(XXH3_state_s* state) const { XXH3_freeState(state); }

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  STRATA_CHECK(state_ != nullptr);
  Reset();
}

Xxh3Stream::Xxh3Stream(const Xxh3Stream& other) : state_(XXH3_createState()) {
  STRATA_CHECK(state_ != nullptr);
  XXH3_copyState(state_.get(), other.state_.get());
}

Xxh3Stream& Xxh3Stream::operator=(const Xxh3Stream& other) {
  if (this != &other) XXH3_copyState(state_.get(), other.state_.get());
  return *this;
}

Xxh3Stream::~Xxh3Stream() = default;

void Xxh3Stream::Reset() { STRATA_CHECK(XXH3_64bits_reset(state_.get()) == XXH_OK); }

void Xxh3Stream::Update(const void* data, size_t bytes) {
  STRATA_CHECK(XXH3_64bits_update(state_.get(), data, bytes) == XXH_OK);
}

uint64_t Xxh3Stream::Digest() const { return XXH3_64bits_digest(state_.get()); }

}  // namespace strata
