// `strata pack --model HF_DIR --out PACK_DIR [--dtype bf16|fp8] [--force]`: rewrites a
// Hugging Face checkpoint as a Strata pack for streaming and prints a one-line summary.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/storage/pack_writer.h"

namespace strata::cli {

void AddPackCommand(CLI::App& app, CommandRunner& run) {
  struct Flags {
    std::string model;
    std::string out;
    std::string dtype = "bf16";
    bool force = false;
  };
  auto flags = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "pack", "Rewrite a Hugging Face checkpoint as a Strata pack (aligned per-layer extents)");
  cmd->add_option("--model", flags->model, "Hugging Face model directory")->required();
  cmd->add_option("--out", flags->out, "Pack directory to create")->required();
  cmd->add_option("--dtype", flags->dtype,
                  "Weight dtype: bf16, or fp8 (projections e4m3 with per-row scales)")
      ->check(CLI::IsMember({"bf16", "fp8"}));
  cmd->add_flag("--force", flags->force, "Replace PACK_DIR if it is already a pack");
  cmd->callback([flags, &run] {
    run = [flags]() -> Status {
      PackOptions options;
      options.model_dir = flags->model;
      options.out_dir = flags->out;
      options.dtype = *ParsePackDType(flags->dtype);
      options.force = flags->force;
      const auto start = std::chrono::steady_clock::now();
      STRATA_ASSIGN_OR_RETURN(PackResult result, WritePack(options));
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
