// Fuzz target: the tiny fixture's Llama 3 tokenizer on arbitrary bytes. Encode takes them
// as text (invalid UTF-8 is a Status); valid text must decode back to itself. The same bytes
// read as little-endian int32 ids go through Decode and a StreamDecoder (ids out of range
// are a Status). Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "common/tokenizer/tokenizer.h"

namespace {

const strata::Tokenizer& Fixture() {
  static const strata::Tokenizer tokenizer = [] {
    strata::StatusOr<strata::Tokenizer> t =
        strata::Tokenizer::FromFile(STRATA_TEST_FIXTURES "/tiny-llama31/tokenizer.json");
    if (!t.ok()) std::abort();
    return std::move(t).value();
  }();
  return tokenizer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const strata::Tokenizer& tokenizer = Fixture();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  strata::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text, /*add_special_tokens=*/false);
  if (ids.ok()) {
    strata::StatusOr<std::string> back = tokenizer.Decode(*ids, /*skip_special_tokens=*/false);
    if (!back.ok() || *back != text) std::abort();
  }
  std::vector<int32_t> raw(size / sizeof(int32_t));
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * sizeof(int32_t));
  for (bool skip : {false, true}) {
    (void)tokenizer.Decode(raw, skip);
    strata::StreamDecoder stream(tokenizer, skip);
    for (int32_t id : raw) (void)stream.Push(id);
    (void)stream.Flush();
  }
  return 0;
}
