// Fuzz target: model.safetensors.index.json of a Hugging Face directory, opened by
// Checkpoint::Open beside the tiny fixture's config.json and its three real shards (linked in
// once), so a well-formed index reaches the cross-checks of tensors against shards.
// Thread-safety: libFuzzer's one input at a time.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "common/model/checkpoint.h"
#include "tests/fuzz/fuzz_files.h"

namespace {

// The scratch directory as a model directory: the fixture's files but for the index.
const std::string& ModelDir() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path fixture = fs::path(STRATA_TEST_FIXTURES) / "tiny-llama31";
    const std::string d = strata::fuzz::ScratchDir();
    for (const char* name : {"config.json", "model-00001-of-00003.safetensors",
                             "model-00002-of-00003.safetensors",
                             "model-00003-of-00003.safetensors"}) {
      fs::create_symlink(fixture / name, fs::path(d) / name);
    }
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  strata::fuzz::WriteWholeFile(ModelDir() + "/model.safetensors.index.json", data, size);
  (void)strata::Checkpoint::Open(ModelDir());
  return 0;
}
