// Writes a Strata pack (pack_format.h) from a Hugging Face Llama checkpoint, crash-safely:
// everything goes into the sibling directory OUT.partial-<pid>, each file is fsynced,
// manifest.json is written last (temp file + rename), the directory is fsynced and only then
// renamed to OUT. A failure removes the partial directory; a crash leaves it, never a
// directory that Pack::Open takes for a pack, and the next run for OUT deletes it.
// Thread-safety: concurrent WritePack calls must use different output directories.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/storage/pack_format.h"
#include "common/util/status.h"

namespace strata {

struct PackOptions {
  std::string model_dir;  // Hugging Face directory: config.json, safetensors, tokenizer files
  std::string out_dir;    // the pack directory to create; its parent is created if missing
  std::string source;     // what the manifest names as the source; empty: model_dir, absolute
  PackDType dtype = PackDType::kBF16;
  // int4 packs of a bf16/fp16/fp32 checkpoint: input columns per scale and zero point; must
  // divide every projection's columns. An AWQ/GPTQ checkpoint keeps its own group size and
  // act-order permutations (this is then ignored).
  int64_t group_size = kDefaultInt4GroupSize;
  // Replace an existing out_dir, when it is a pack (holds manifest.json) or empty.
  bool force = false;
  size_t buffer_bytes = size_t{8} << 20;  // write buffer: bounds the writer's memory
  // Test hook: fail once this many bytes of weights.bin would be written (0: never).
  uint64_t fail_after_bytes = 0;
};

struct PackResult {
  std::string dir;  // absolute
  PackDType dtype = PackDType::kBF16;
  int64_t num_layers = 0;
  uint64_t data_bytes = 0;  // size of weights.bin
};

// An AWQ/GPTQ checkpoint (Checkpoint::quantization) packs as int4 only, its codes, scales
// and zero points copied from the conversion into Strata's layout (hf_int4_layout.h) a layer
// at a time, never through bf16.
// Errors: Checkpoint::Open and BindLlamaWeights errors; out_dir existing without `force`, or
// existing and not a pack (kFailedPrecondition); an fp8 source or a non-finite weight for
// fp8 (see tensor_encode.h); an AWQ/GPTQ checkpoint with a dtype other than int4
// (kInvalidArgument) or tensors ConvertHfInt4 refuses; file system errors naming the path.
StatusOr<PackResult> WritePack(const PackOptions& options);

// Writes a pack of `weights` with `config`, the second half of WritePack, open to weights
// from elsewhere (strata bench's synthetic layers). options.model_dir, when set, is the
// source the manifest names and where tokenizer files are copied from. Errors: as WritePack
// after opening the checkpoint.
StatusOr<PackResult> WritePackFromWeights(const ModelConfig& config, const LlamaWeights& weights,
                                          const PackOptions& options);

}  // namespace strata
