// Fuzz target: a data-plane message header as a peer sends it, through DecodeHeader against
// the limits of a small bf16 link and of an fp32 one. A header it accepts must pass
// ValidateHeader and encode back to the same bytes (a mismatch aborts).
// Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "common/transport/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace t = strata::transport;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  static const t::LinkLimits kLinks[] = {
      {.max_rows = 64, .cols = 32, .dtype = t::ActivationDtype::kBF16, .max_seqs = 8},
      {.max_rows = 4, .cols = 4096, .dtype = t::ActivationDtype::kF32, .max_seqs = 4}};
  for (const t::LinkLimits& limits : kLinks) {
    t::MessageHeader header;
    if (!t::DecodeHeader(bytes, limits, &header).ok()) continue;
    if (!t::ValidateHeader(header, limits).ok() || t::EncodedHeaderBytes(header) != size) {
      std::abort();
    }
    std::vector<std::byte> again(size);
    if (t::EncodeHeader(header, again) != size || std::memcmp(again.data(), data, size) != 0) {
      std::abort();
    }
  }
  return 0;
}
