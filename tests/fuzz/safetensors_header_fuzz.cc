// Fuzz target: a safetensors file (8-byte header length, JSON header, data) opened by
// SafetensorsFile::Open. Whatever the bytes, Open returns a Status or tensors whose bytes lie
// inside the file; the target reads every tensor's first and last byte to prove it.
// Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>

#include "common/model/safetensors.h"
#include "tests/fuzz/fuzz_files.h"

namespace {
volatile std::byte g_sink;  // the reads below are kept
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = strata::fuzz::ScratchDir() + "/model.safetensors";
  strata::fuzz::WriteWholeFile(path, data, size);
  strata::StatusOr<strata::SafetensorsFile> file = strata::SafetensorsFile::Open(path);
  if (!file.ok()) return 0;
  for (const strata::TensorInfo& t : file->tensors()) {
    if (t.nbytes == 0) continue;
    g_sink = t.data[0];
    g_sink = t.data[t.nbytes - 1];
  }
  return 0;
}
