// Fuzz target: a pack's manifest.json through ParsePackManifest and, when it parses,
// ValidatePackManifest against a data file of the size the manifest claims (and of one byte
// less), as Pack::Open does. Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/storage/pack_manifest.h"
#include "common/storage/pack_validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  strata::StatusOr<strata::PackManifest> manifest = strata::ParsePackManifest(text, "pack fuzz");
  if (!manifest.ok()) return 0;
  (void)strata::ValidatePackManifest(*manifest, manifest->data_bytes, "pack fuzz");
  if (manifest->data_bytes > 0) {
    (void)strata::ValidatePackManifest(*manifest, manifest->data_bytes - 1, "pack fuzz");
  }
  return 0;
}
