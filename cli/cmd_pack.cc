// `strata pack --model HF_DIR --out PACK_DIR [--dtype bf16|fp8|int4 [--group-size G]]
// [--force]`: rewrites a
// Hugging Face checkpoint as a Strata pack for streaming and prints a one-line summary. An
// AWQ/GPTQ checkpoint packs as int4 with its own group size (--dtype defaults to int4 for it;
// another dtype or group size is refused).
// `--synthetic PRESET --layers N [--tokenizer HF_DIR]` writes random weights of a named
// model's shapes instead (for benchmarks and cluster runs without a download); with a
// tokenizer directory the pack takes its tokenizer files, vocabulary size and BOS/EOS ids.
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/bench/synthetic_model.h"
#include "common/model/checkpoint.h"
#include "common/model/config.h"
#include "common/model/int4_weights.h"
#include "common/storage/pack_writer.h"

namespace strata::cli {
namespace {

constexpr char kGroupSizeNeedsInt4[] = "--group-size applies to --dtype int4 only";

// The pack options for --model: an AWQ/GPTQ checkpoint's dtype defaults to int4 and its group
// size is its own, so an explicit other one is refused here, naming the flag.
template <typename Flags>
StatusOr<PackOptions> CheckpointOptions(const Flags& f, bool dtype_given, bool group_size_given) {
  PackOptions options;
  options.model_dir = f.model;
  options.out_dir = f.out;
  options.dtype = *ParsePackDType(f.dtype);
  options.group_size = f.group_size;
  options.force = f.force;
  STRATA_ASSIGN_OR_RETURN(const Checkpoint checkpoint, Checkpoint::Open(f.model));
  const HfQuantization& q = checkpoint.quantization();
  if (!q.quantized()) {
    if (group_size_given && options.dtype != PackDType::kInt4) {
      return InvalidArgument(kGroupSizeNeedsInt4);
    }
    return options;
  }
  const std::string what = f.model + " is " + DescribeHfQuantization(q);
  if (dtype_given && options.dtype != PackDType::kInt4) {
    return InvalidArgument(what + "; it packs only as int4 (its 4-bit codes are copied, not " +
                           "re-quantised): drop --dtype " + f.dtype + " or pass --dtype int4");
  }
  const int64_t own = q.group_size == kHfGroupPerRow ? kInt4GroupPerRow : q.group_size;
  if (group_size_given && f.group_size != own) {
    return InvalidArgument(what + "; a pack of it keeps that group size: drop --group-size " +
                           std::to_string(f.group_size));
  }
  options.dtype = PackDType::kInt4;
  return options;
}

template <typename Flags>
StatusOr<PackResult> WriteSynthetic(const Flags& f) {
  std::optional<ModelConfig> config = SyntheticConfig(f.synthetic, f.layers);
  if (!config) return InvalidArgument("unknown --synthetic model '" + f.synthetic + "'");
  if (!f.tokenizer.empty()) {
    STRATA_ASSIGN_OR_RETURN(ModelConfig from, LoadModelConfig(f.tokenizer + "/config.json"));
    config->vocab_size = from.vocab_size;
    config->bos_token_id = from.bos_token_id;
    config->eos_token_ids = from.eos_token_ids;
  }
  if (!f.force && std::filesystem::exists(f.out)) {
    return FailedPrecondition("pack directory " + f.out + " already exists; pass --force to replace it");
  }
  return WriteSyntheticPack(*config, f.synthetic, *ParsePackDType(f.dtype), f.out, 1, f.tokenizer);
}

}  // namespace

void AddPackCommand(CLI::App& app, CommandRunner& run) {
  struct Flags {
    std::string model;
    std::string synthetic;
    int64_t layers = 8;
    std::string tokenizer;
    std::string out;
    std::string dtype = "bf16";
    int64_t group_size = kDefaultInt4GroupSize;
    bool force = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "pack", "Rewrite a Hugging Face checkpoint as a Strata pack (aligned per-layer extents)");
  auto* model = cmd->add_option("--model", flags->model, "Hugging Face model directory");
  auto* synthetic = cmd->add_option(
      "--synthetic", flags->synthetic, "Random weights of this model instead: llama-3.1-70b, llama-3.1-8b, tiny");
  model->excludes(synthetic);
  cmd->add_option("--layers", flags->layers, "Synthetic: decoder layers")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--tokenizer", flags->tokenizer,
                  "Synthetic: a Hugging Face directory to take the tokenizer (and vocabulary, "
                  "BOS/EOS from its config.json) from");
  cmd->add_option("--out", flags->out, "Pack directory to create")->required();
  auto* dtype = cmd->add_option(
      "--dtype", flags->dtype,
      "Weight dtype: bf16, fp8 (projections e4m3 with per-row scales) or int4 (projections "
      "4-bit, round-to-nearest, a bf16 scale and zero point per group); an AWQ/GPTQ "
      "checkpoint packs as int4 only, its codes copied");
  dtype->check(CLI::IsMember({"bf16", "fp8", "int4"}));
  auto* group_size = cmd->add_option("--group-size", flags->group_size,
                                     "int4: input columns per scale and zero point (an even "
                                     "divisor of every projection's input size); an AWQ/GPTQ "
                                     "checkpoint keeps its own");
  group_size->capture_default_str();
  cmd->add_flag("--force", flags->force, "Replace PACK_DIR if it is already a pack");
  cmd->callback([flags, dtype, group_size, &run] {
    const bool dtype_given = dtype->count() > 0, group_size_given = group_size->count() > 0;
    run = [flags, dtype_given, group_size_given]() -> Status {
      if (flags->model.empty() == flags->synthetic.empty()) {
        return InvalidArgument("strata pack needs exactly one of --model HF_DIR or --synthetic MODEL");
      }
      // An AWQ/GPTQ checkpoint's dtype defaults to int4: CheckpointOptions decides for --model.
      if (group_size_given && flags->dtype != "int4" && (dtype_given || flags->model.empty())) {
        return InvalidArgument(kGroupSizeNeedsInt4);
      }
      const auto start = std::chrono::steady_clock::now();
      PackResult result;
      if (!flags->synthetic.empty()) {
        STRATA_ASSIGN_OR_RETURN(result, WriteSynthetic(*flags));
      } else {
        STRATA_ASSIGN_OR_RETURN(const PackOptions options,
                                CheckpointOptions(*flags, dtype_given, group_size_given));
        STRATA_ASSIGN_OR_RETURN(result, WritePack(options));
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double bytes = static_cast<double>(result.data_bytes);
      const bool gb = bytes >= 1e9;
      std::printf("packed %lld layers (%s, %.2f %s) in %.1f s into %s\n",
                  static_cast<long long>(result.num_layers),
                  std::string(PackDTypeName(result.dtype)).c_str(), bytes / (gb ? 1e9 : 1e6),
                  gb ? "GB" : "MB", seconds, result.dir.c_str());
      return OkStatus();
    };
  });
}

}  // namespace strata::cli
