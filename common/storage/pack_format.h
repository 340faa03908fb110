// The Strata pack format: a model rewritten for streaming. Constants, the manifest's
// in-memory form, and the layout rules that the writer (pack_writer.h) and the reader
// (pack.h) share.
//
// A pack is a directory:
//   manifest.json   format, version, dtype, model config, extent table (written last)
//   weights.bin     the extents back to back: embed, layer.0 .. layer.{L-1}, final_norm, lm_head
//   tokenizer.json, tokenizer_config.json, generation_config.json   (copied when present)
// Every extent, and every tensor and scale array inside one, starts at a multiple of
// kDirectIoAlignment from the start of weights.bin; every extent's length is a multiple of it
// (zero padding). A decoder layer's nine tensors form one extent, so one read fetches a layer.
// lm_head is always its own extent, a copy of the embedding when the model ties them, so a
// worker that owns only the last stage reads the head alone.
// Quantized projections (manifest "dtype" fp8 or int4; each tensor's "dtype" says which):
//   F8_E4M3: data (rows, cols) one byte each; at "scales_offset" float32 scales (rows): the
//            weight is e4m3(data[r][c]) * scales[r].
//   U4:      data (rows, cols / 2) bytes, row-major, column c of row r in byte
//            r * cols / 2 + c / 2, the low nibble for an even c, the high for an odd one
//            (codes 0..15); with G = "group_size" (an even divisor of cols), at "scales_offset"
//            bf16 scales and at "zeros_offset" bf16 zero points, each (rows, cols / G)
//            row-major: the weight is (q - zeros[r][c / G]) * scales[r][c / G]. With
//            "perm_offset" (act-order GPTQ checkpoints), at it int32 (cols): stored column c
//            multiplies input column perm[c], a permutation of 0..cols-1 under which each
//            group's columns are consecutive; without it, input column c. The writer gives a
//            projection its own array when its order is not the identity (also when it equals
//            another projection's) and none when it is; packs written before also stored
//            identity arrays. Pack::Open binds an identity array as none and a projection's
//            array equal to an earlier one's of the same layer and input (q, k, v; gate, up)
//            as that one (one pointer: see SharePermutations in common/model/int4_weights.h).
//            Written by round to nearest (common/model/int4_weights.h), or from an AWQ/GPTQ
//            checkpoint's codes (common/model/hf_int4_layout.h; G is then its group size, the
//            row's length for its -1). Every array little-endian.
// Thread-safety: constants and plain values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/model/config.h"
#include "common/model/dtype.h"
#include "common/model/int4_weights.h"
#include "common/model/llama_weights.h"
#include "common/util/direct_io.h"

namespace strata {

inline constexpr std::string_view kPackFormatName = "strata-pack";
inline constexpr int64_t kPackVersion = 1;
inline constexpr std::string_view kPackManifestFile = "manifest.json";
inline constexpr std::string_view kPackDataFile = "weights.bin";
// Copied from the Hugging Face directory when present, so the pack also serves tokenization.
inline constexpr std::array<std::string_view, 4> kPackCopiedFiles = {
    "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"};

// The pack's weight dtype. kBF16: every tensor BF16. kFP8: the seven projections of each
// layer F8_E4M3 with one float32 scale per output row. kInt4: the seven projections U4 (two
// codes a byte) with a bf16 scale and a bf16 zero point per group of `group_size` input
// columns of a row (common/model/int4_weights.h). Norms, embedding and head stay BF16.
enum class PackDType { kBF16, kFP8, kInt4 };
std::string_view PackDTypeName(PackDType dtype);  // "bf16", "fp8", "int4"
std::optional<PackDType> ParsePackDType(std::string_view name);
std::vector<std::string> PackDTypeNames();  // every PackDTypeName, for flag checks

// One tensor inside an extent. Offsets are relative to the extent's first byte.
struct PackTensor {
  std::string name;  // "embed", "final_norm", "lm_head", or a layer field ("wq", "w_down", ...)
  DType dtype = DType::kBF16;
  int64_t rows = 0;  // 1-D norms are (1, hidden)
  int64_t cols = 0;
  uint64_t offset = 0;
  uint64_t bytes = 0;                     // DTypeBytes(dtype, rows * cols)
  // F8_E4M3: float32 scales (rows). U4: bf16 scales (rows, cols / group_size).
  std::optional<uint64_t> scales_offset;
  std::optional<uint64_t> zeros_offset;  // U4 only: bf16 zero points (rows, cols / group_size)
  std::optional<uint64_t> perm_offset;   // U4 only, optional: int32 input columns (cols)
  int64_t group_size = 0;                // U4 only: input columns per scale and zero point
  // Not in manifest.json: the permutation array the tensor binds, set by Pack::Open from the
  // arrays' contents (perm_offset, an earlier tensor's equal one, or none for the identity).
  std::optional<uint64_t> bound_perm_offset;

  uint64_t scales_bytes() const {
    return dtype == DType::kU4 ? group_array_bytes() : static_cast<uint64_t>(rows) * sizeof(float);
  }
  uint64_t zeros_bytes() const { return group_array_bytes(); }
  uint64_t perm_bytes() const { return static_cast<uint64_t>(cols) * sizeof(int32_t); }

 private:
  uint64_t group_array_bytes() const {
    return group_size > 0 ? static_cast<uint64_t>(rows * (cols / group_size)) * sizeof(uint16_t) : 0;
  }
};

// A contiguous, aligned byte range of weights.bin.
struct PackExtent {
  std::string name;  // "embed", "layer.<i>", "final_norm", "lm_head"
  uint64_t offset = 0;
  uint64_t bytes = 0;
  uint64_t xxh3 = 0;  // XXH3_64bits of all `bytes`, padding included
  std::vector<PackTensor> tensors;
};

// manifest.json, parsed.
struct PackManifest {
  PackDType dtype = PackDType::kBF16;
  ModelConfig config;
  std::string data_file;  // always kPackDataFile in packs this build writes
  uint64_t data_bytes = 0;
  uint64_t alignment = kDirectIoAlignment;
  std::string source;  // the Hugging Face directory it was made from; informational
  std::vector<PackExtent> extents;
};

// Which extent: the embedding, a decoder layer, the final norm or the LM head.
struct ExtentId {
  enum class Kind { kEmbed, kLayer, kFinalNorm, kLmHead };
  Kind kind = Kind::kEmbed;
  int64_t layer = -1;  // kLayer only
};

// Extent names in file order: embed, layer.0 .. layer.{L-1}, final_norm, lm_head. The index
// of an extent in this order is its canonical index (Pack::extents() uses it).
std::vector<ExtentId> PackExtentOrder(int64_t num_layers);
std::string ExtentName(const ExtentId& id);
// Parses an extent name; nullopt for unknown names and layers outside [0, num_layers).
std::optional<ExtentId> ParseExtentName(std::string_view name, int64_t num_layers);
size_t CanonicalExtentIndex(const ExtentId& id, int64_t num_layers);
// For messages: "layer 17 (extent layer.17)", "the embedding (extent embed)".
std::string DescribeExtent(std::string_view name);

// A layer extent's tensors in file order, each with its field in LlamaLayerWeights.
struct LayerField {
  std::string_view name;
  WeightView LlamaLayerWeights::*member;
  bool projection;  // quantized in fp8 and int4 packs
};
inline constexpr std::array<LayerField, 9> kLayerFields = {{
    {"attn_norm", &LlamaLayerWeights::attn_norm, false},
    {"wq", &LlamaLayerWeights::wq, true},
    {"wk", &LlamaLayerWeights::wk, true},
    {"wv", &LlamaLayerWeights::wv, true},
    {"wo", &LlamaLayerWeights::wo, true},
    {"mlp_norm", &LlamaLayerWeights::mlp_norm, false},
    {"w_gate", &LlamaLayerWeights::w_gate, true},
    {"w_up", &LlamaLayerWeights::w_up, true},
    {"w_down", &LlamaLayerWeights::w_down, true},
}};

// What an extent must hold for `config` in a `dtype` pack, in file order.
struct TensorSpec {
  std::string name;
  DType dtype = DType::kBF16;
  int64_t rows = 0;
  int64_t cols = 0;
  bool scaled = false;     // has scales (F8_E4M3: per row; U4: per group, with zero points)
  int64_t group_size = 0;  // U4 only
  bool col_perm = false;   // U4 only: has an input-column permutation
};
// A group size meaning one group per row (a projection's whole input), as GPTQ's -1.
inline constexpr int64_t kInt4GroupPerRow = -1;
// Which projections of a layer carry an act-order permutation, in kHfProjections order.
using PermutedProjections = std::array<bool, kHfProjections.size()>;
// `group_size` (or kInt4GroupPerRow) and `permuted` apply to int4 packs (their projections'
// groups and act-order permutations), else they are ignored.
std::vector<TensorSpec> ExtentTensorSpecs(const ModelConfig& config, PackDType dtype,
                                          const ExtentId& id,
                                          int64_t group_size = kDefaultInt4GroupSize,
                                          const PermutedProjections& permuted = {});

// A checksum as the manifest spells it: 16 lowercase hex digits.
std::string ChecksumHex(uint64_t xxh3);

// The smallest multiple of kDirectIoAlignment that is >= n.
constexpr uint64_t AlignUp(uint64_t n) {
  return (n + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
}

// The manifest the writer produces for `config` (checksums zero, source empty): the extents
// in PackExtentOrder, each tensor and scale array at the next aligned offset. `permuted` is
// (num_layers) for an int4 pack with act-order permutations, else empty.
PackManifest PlanPack(const ModelConfig& config, PackDType dtype,
                      int64_t group_size = kDefaultInt4GroupSize,
                      const std::vector<PermutedProjections>& permuted = {});

// Where `extent` may be cut in two without cutting an array (a tensor's data, scales, zeros,
// permutation):
// the start of every array but the first, ascending. A prefix ending there holds whole
// arrays only, so its part and the rest can live in different memories.
std::vector<uint64_t> ExtentSplitPoints(const PackExtent& extent);

}  // namespace strata
