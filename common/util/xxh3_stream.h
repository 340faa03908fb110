// Xxh3Stream: the 64-bit XXH3 of bytes fed in pieces, equal to XXH3_64bits of them all at
// once; copyable, so the state after a common prefix can be kept and resumed many times
// (the streaming executor hashes a layer's resident prefix once and its streamed rest every
// pass). Thread-safety: an instance is driven by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

struct XXH3_state_s;

namespace strata {

class Xxh3Stream {
 public:
  Xxh3Stream();
  Xxh3Stream(const Xxh3Stream& other);
  Xxh3Stream& operator=(const Xxh3Stream& other);
  Xxh3Stream(Xxh3Stream&&) noexcept = default;
  Xxh3Stream& operator=(Xxh3Stream&&) noexcept = default;
  ~Xxh3Stream();

  void Reset();
  void Update(const void* data, size_t bytes);
  uint64_t Digest() const;

 private:
  struct Free {
    void operator()(XXH3_state_s* state) const;
  };
  std::unique_ptr<XXH3_state_s, Free> state_;
};

}  // namespace strata
