// WritePack: plan the layout, stream the tensors into OUT.partial-<pid>/weights.bin, copy the
// tokenizer files, write the manifest last, then move the directory into place.
// Thread-safety: see pack_writer.h.
#include "common/storage/pack_writer.h"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "common/model/checkpoint.h"
#include "common/model/hf_int4_weights.h"
#include "common/model/llama_weights.h"
#include "common/storage/durable_file.h"
#include "common/storage/pack_data_writer.h"
#include "common/storage/pack_manifest.h"
#include "common/storage/tensor_encode.h"
#include "common/util/check.h"
#include "common/util/file.h"

namespace strata {
namespace {

namespace fs = std::filesystem;

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

// `dir` absolute and normalized, without a trailing slash.
std::string AbsoluteDir(const std::string& dir) {
  fs::path p = fs::absolute(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.string();
}

// --force replaces only what looks like a pack: an empty directory or one with manifest.json.
Status CheckReplaceable(const std::string& out) {
  std::error_code ec;
  if (!fs::is_directory(out, ec)) {
    return FailedPrecondition(out + " exists and is not a directory; choose another --out");
  }
  if (!fs::is_empty(out, ec) && !Exists((fs::path(out) / kPackManifestFile).string())) {
    return FailedPrecondition(out + " exists and is not a Strata pack (no manifest.json); " +
                              "refusing to replace it even with --force — remove it yourself " +
                              "or choose another --out");
  }
  return OkStatus();
}

// Deletes OUT.partial-<pid> and OUT.old-<pid> siblings left by strata pack runs that are no
// longer alive (a crash mid-pack can leave a model's worth of bytes there).
void RemoveStaleSiblings(const std::string& out) {
  const fs::path path(out);
  const std::string base = path.filename().string();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path.parent_path(), ec)) {
    const std::string name = entry.path().filename().string();
    for (const std::string marker : {".partial-", ".old-"}) {
      const std::string prefix = base + marker;
      if (!name.starts_with(prefix) || name.size() == prefix.size() ||
          name.find_first_not_of("0123456789", prefix.size()) != std::string::npos ||
          name.size() - prefix.size() > 9) {
        continue;
      }
      const pid_t pid = static_cast<pid_t>(std::stol(name.substr(prefix.size())));
      if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
        fs::remove_all(entry.path(), ec);
      }
    }
  }
}

// The checkpoint tensors of an extent, in ExtentTensorSpecs order; `layer` for a layer extent.
std::vector<WeightView> SourceViews(const LlamaWeights& w, const ExtentId& id,
                                    const LlamaLayerWeights* layer) {
  switch (id.kind) {
    case ExtentId::Kind::kEmbed: return {w.embed};
    case ExtentId::Kind::kFinalNorm: return {w.final_norm};
    case ExtentId::Kind::kLmHead: return {w.lm_head};
    case ExtentId::Kind::kLayer: break;
  }
  std::vector<WeightView> views;
  for (const LayerField& f : kLayerFields) views.push_back(layer->*f.member);
  return views;
}

// Streams every extent of `plan` into `path` and fills in the extents' checksums. With
// `hf_int4` (an AWQ/GPTQ checkpoint), each layer's projections are converted from it as the
// layer is written, so one layer's int4 bytes are in memory at a time.
Status WriteData(const LlamaWeights& weights, const Checkpoint* hf_int4, const PackOptions& options,
                 const std::string& path, PackManifest& plan) {
  STRATA_ASSIGN_OR_RETURN(
      std::unique_ptr<PackDataWriter> out,
      PackDataWriter::Create(path, options.buffer_bytes, options.fail_after_bytes));
  const std::vector<ExtentId> order = PackExtentOrder(plan.config.num_layers);
  std::vector<float> scales;         // (rows) of the current fp8 tensor
  std::vector<uint16_t> group_scales;  // (rows, cols / group_size) of the current int4 tensor
  std::vector<uint16_t> group_zeros;   // (rows, cols / group_size) likewise
  for (size_t i = 0; i < order.size(); ++i) {
    PackExtent& e = plan.extents[i];
    std::array<U4Tensor, kHfProjections.size()> converted;  // this layer's, AWQ/GPTQ only
    std::optional<LlamaLayerWeights> layer;
    if (order[i].kind == ExtentId::Kind::kLayer) {
      layer = weights.layers[static_cast<size_t>(order[i].layer)];
      if (hf_int4 != nullptr) {
        STRATA_ASSIGN_OR_RETURN(converted, ConvertHfInt4Layer(*hf_int4, order[i].layer));
        for (size_t k = 0; k < kHfProjections.size(); ++k) {
          (*layer).*kHfProjections[k].member = converted[k].View();
        }
      }
    }
    const std::vector<WeightView> sources =
        SourceViews(weights, order[i], layer ? &*layer : nullptr);
    STRATA_CHECK(out->offset() == e.offset && sources.size() == e.tensors.size());
    out->BeginExtent();
    for (size_t j = 0; j < sources.size(); ++j) {
      const PackTensor& t = e.tensors[j];
      const std::string name = e.name + "." + t.name;
      STRATA_RETURN_IF_ERROR(out->PadTo(e.offset + t.offset));
      if (t.dtype == DType::kF8E4M3) {
        STRATA_RETURN_IF_ERROR(AppendAsF8E4M3(sources[j], name, *out, &scales));
        STRATA_RETURN_IF_ERROR(out->PadTo(e.offset + *t.scales_offset));
        STRATA_RETURN_IF_ERROR(out->Append(scales.data(), t.scales_bytes()));
      } else if (t.dtype == DType::kU4) {
        STRATA_RETURN_IF_ERROR(
            AppendAsU4(sources[j], name, t.group_size, *out, &group_scales, &group_zeros));
        STRATA_RETURN_IF_ERROR(out->PadTo(e.offset + *t.scales_offset));
        STRATA_RETURN_IF_ERROR(out->Append(group_scales.data(), t.scales_bytes()));
        STRATA_RETURN_IF_ERROR(out->PadTo(e.offset + *t.zeros_offset));
        STRATA_RETURN_IF_ERROR(out->Append(group_zeros.data(), t.zeros_bytes()));
        // The plan has a permutation where the conversion has one (HfInt4ActOrdered): each
        // projection's own, none for the identity.
        STRATA_CHECK(t.perm_offset.has_value() == (sources[j].col_perm != nullptr));
        if (t.perm_offset) {
          STRATA_RETURN_IF_ERROR(out->PadTo(e.offset + *t.perm_offset));
          STRATA_RETURN_IF_ERROR(out->Append(sources[j].col_perm, t.perm_bytes()));
        }
      } else {
        STRATA_RETURN_IF_ERROR(AppendAsBF16(sources[j], name, *out));
      }
    }
    STRATA_RETURN_IF_ERROR(out->PadTo(e.offset + e.bytes));
    e.xxh3 = out->ExtentChecksum();
  }
  return out->Finish();
}

Status CopyTokenizerFiles(const std::string& model_dir, const std::string& dir) {
  for (std::string_view name : kPackCopiedFiles) {
    const std::string from = (fs::path(model_dir) / name).string();
    if (!Exists(from)) continue;
    STRATA_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(from));
    STRATA_RETURN_IF_ERROR(WriteFileDurably((fs::path(dir) / name).string(), bytes));
  }
  return OkStatus();
}

// Removes the partial directory unless the pack was moved into place.
class PartialDirGuard {
 public:
  explicit PartialDirGuard(std::string dir) : dir_(std::move(dir)) {}
  PartialDirGuard(const PartialDirGuard&) = delete;
  PartialDirGuard& operator=(const PartialDirGuard&) = delete;
  ~PartialDirGuard() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void Release() { dir_.clear(); }

 private:
  std::string dir_;
};

Status CheckOutDir(const std::string& out, bool force, bool* exists) {
  *exists = Exists(out);
  if (!*exists) return OkStatus();
  if (!force) {
    return FailedPrecondition("pack directory " + out + " already exists; pass --force to " +
                              "replace it or choose another --out");
  }
  return CheckReplaceable(out);
}


// The int4 layout of a pack of an AWQ/GPTQ checkpoint: its group size and which projections
// of each layer have an act-order permutation ((layers), or empty for none).
struct Int4Layout {
  int64_t group_size = kDefaultInt4GroupSize;
  std::vector<PermutedProjections> permuted;
};

StatusOr<PackResult> WritePackOf(const ModelConfig& config, const LlamaWeights& weights,
                                 const Checkpoint* hf_int4, const Int4Layout& layout,
                                 const PackOptions& options) {
  if (options.out_dir.empty()) return InvalidArgument("writing a pack needs an output directory");
  static_assert(std::endian::native == std::endian::little, "packs store little-endian scales");
  const std::string out = AbsoluteDir(options.out_dir);
  bool exists = false;
  STRATA_RETURN_IF_ERROR(CheckOutDir(out, options.force, &exists));

  std::error_code ec;
  const std::string parent = fs::path(out).parent_path().string();
  fs::create_directories(parent, ec);
  if (ec) return ErrnoError("cannot create directory", parent, ec.value());
  RemoveStaleSiblings(out);
  const std::string tmp = out + ".partial-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) return ErrnoError("cannot create directory", tmp, ec.value());
  PartialDirGuard guard(tmp);

  PackManifest plan = PlanPack(config, options.dtype, layout.group_size, layout.permuted);
  plan.source = !options.source.empty()      ? options.source
                : !options.model_dir.empty() ? AbsoluteDir(options.model_dir)
                                             : std::string();
  STRATA_RETURN_IF_ERROR(
      WriteData(weights, hf_int4, options, (fs::path(tmp) / kPackDataFile).string(), plan));
  if (!options.model_dir.empty()) STRATA_RETURN_IF_ERROR(CopyTokenizerFiles(options.model_dir, tmp));
  const std::string manifest = (fs::path(tmp) / kPackManifestFile).string();
  STRATA_RETURN_IF_ERROR(WriteFileDurably(manifest + ".tmp", PackManifestToJson(plan)));
  if (::rename((manifest + ".tmp").c_str(), manifest.c_str()) != 0) {
    return ErrnoError("cannot rename to", manifest, errno);
  }
  STRATA_RETURN_IF_ERROR(SyncPath(tmp));

  STRATA_RETURN_IF_ERROR(CheckOutDir(out, options.force, &exists));  // it may have appeared
  STRATA_RETURN_IF_ERROR(ReplaceDirectory(tmp, out, exists));
  guard.Release();
  return PackResult{out, options.dtype, config.num_layers, plan.data_bytes};
}

}  // namespace

StatusOr<PackResult> WritePack(const PackOptions& options) {
  if (options.model_dir.empty() || options.out_dir.empty()) {
    return InvalidArgument("strata pack needs a model directory and an output directory");
  }
  bool exists = false;
  STRATA_RETURN_IF_ERROR(CheckOutDir(AbsoluteDir(options.out_dir), options.force, &exists));
  STRATA_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(options.model_dir));
  const HfQuantization& q = checkpoint.quantization();
  if (!q.quantized()) {
    STRATA_ASSIGN_OR_RETURN(LlamaWeights weights, BindLlamaWeights(checkpoint));
    return WritePackOf(checkpoint.config(), weights, nullptr, {options.group_size, {}}, options);
  }
  if (options.dtype != PackDType::kInt4) {
    return InvalidArgument(options.model_dir + " is " + DescribeHfQuantization(q) +
                           "; it packs only as int4 (its 4-bit codes are copied, not " +
                           "re-quantised) — pass --dtype int4 or no --dtype");
  }
  Int4Layout layout;
  layout.group_size = q.group_size == kHfGroupPerRow ? kInt4GroupPerRow : q.group_size;
  STRATA_ASSIGN_OR_RETURN(layout.permuted, HfInt4ActOrdered(checkpoint));
  STRATA_ASSIGN_OR_RETURN(LlamaWeights weights,
                          BindLlamaWeights(checkpoint, BindProjections::kNo));
  return WritePackOf(checkpoint.config(), weights, &checkpoint, layout, options);
}

StatusOr<PackResult> WritePackFromWeights(const ModelConfig& config, const LlamaWeights& weights,
                                          const PackOptions& options) {
  return WritePackOf(config, weights, nullptr, {options.group_size, {}}, options);
}

}  // namespace strata
