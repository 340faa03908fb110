// `strata generate`: tokenizes a prompt (or renders a chat with the model's template),
// generates with a Hugging Face directory (CPU backend) or a Strata pack (any backend,
// layers streamed through their tiers), and prints the text — streamed as it is produced,
// or as one JSON object with --json. --dump-logits writes the float32 little-endian logits
// at the last prompt position; --stats prints rates and per-layer stage times to stderr.
// With --draft-model it decodes speculatively (GenerateSpeculative): the same tokens, fewer
// passes over the big model.
#include <bit>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "cli/plan_report.h"
#include "common/engine/generator.h"
#include "common/engine/speculative.h"
#include "common/loader/draft_compatibility.h"
#include "common/loader/model_directory.h"
#include "common/serving/speculation.h"
#include "common/tokenizer/chat_template.h"
#include "common/util/file.h"

namespace strata::cli {
namespace {

struct GenerateFlags {
  ModelFlags model;
  std::string prompt;
  std::string chat_file;
  int32_t max_tokens = 32;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;
  uint64_t seed = 0;
  bool seed_given = false;
  bool json = false;
  std::string dump_logits;
  bool stats = false;
  std::string draft_model;  // empty: no speculation
  std::string speculative;  // off | auto | N; empty: auto with a draft model
  int32_t draft_branch = SpeculativeOptions{}.branch;
};

// The speculation --draft-model and --speculative ask for (off without a draft model).
StatusOr<Speculation> SpeculationOf(const GenerateFlags& f) {
  if (f.draft_model.empty()) {
    if (!f.speculative.empty() && f.speculative != "off") {
      return InvalidArgument("--speculative " + f.speculative + " needs --draft-model DIR");
    }
    return Speculation{};
  }
  return ParseSpeculation(f.speculative.empty() ? "auto" : f.speculative);
}

void PrintSpeculativeStats(const SpeculativeStats& s, const Speculation& setting) {
  const double passes = static_cast<double>(std::max<int64_t>(s.passes, 1));
  std::fprintf(stderr,
               "speculative (%s): %lld verify passes, %.2f tokens per pass (%.2f of %.1f tree "
               "nodes accepted), draft %.1f ms (%lld passes), verify %.1f ms (%.2f ms a pass)\n",
               SpeculationName(setting).c_str(), static_cast<long long>(s.passes),
               (static_cast<double>(s.accepted) + passes) / passes,
               static_cast<double>(s.accepted) / passes,
               static_cast<double>(s.tree_nodes) / passes, s.draft_seconds * 1e3,
               static_cast<long long>(s.draft_passes), s.verify_seconds * 1e3,
               s.verify_seconds * 1e3 / passes);
}

StatusOr<std::vector<int32_t>> PromptIds(const GenerateFlags& f, const ModelDirectory& m) {
  if (f.chat_file.empty()) return m.tokenizer->Encode(f.prompt, /*add_special_tokens=*/true);
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(f.chat_file));
  STRATA_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages, ParseChatMessages(text, f.chat_file));
  if (m.chat_template == nullptr) {
    return InvalidArgument("--chat-file needs the model's chat template: " +
                           m.chat_template_error);
  }
  STRATA_ASSIGN_OR_RETURN(std::string rendered,
                          m.chat_template->Render(messages, /*add_generation_prompt=*/true));
  // The template writes BOS itself, so the post-processor must not add another.
  return m.tokenizer->Encode(rendered, /*add_special_tokens=*/false);
}

Status WriteLogits(const std::string& path, const std::vector<float>& logits) {
  static_assert(std::endian::native == std::endian::little, "logits are written little-endian");
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return InvalidArgument("cannot write --dump-logits file " + path);
  const size_t n = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  const bool closed = std::fclose(f) == 0;
  if (n != logits.size() || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Internal("writing " + path + " failed (disk full?)");
  }
  return OkStatus();
}

void PrintStats(LoadedModel& m, const GenerateResult& r, size_t prompt_tokens) {
  std::fprintf(stderr, "backend %s\n", m.backend->caps().name.c_str());
  std::fprintf(stderr, "prefill %zu tokens in %.1f ms (%.1f tokens/s)\n", prompt_tokens,
               r.prefill_seconds * 1e3,
               static_cast<double>(prompt_tokens) / std::max(r.prefill_seconds, 1e-9));
  const size_t steps = r.output_ids.empty() ? 0 : r.output_ids.size() - 1;
  std::fprintf(stderr, "decode %zu steps in %.1f ms (%.2f tokens/s)\n", steps,
               r.decode_seconds * 1e3,
               static_cast<double>(steps) / std::max(r.decode_seconds, 1e-9));
  if (!m.pack) return;
  const StreamingExecutor& e = m.pack->executor();
  const PackPlacement& pp = *m.placement;
  const Placement& p = pp.placement;
  if (pp.measured) {
    std::fprintf(stderr,
                 "measured per layer at start: ssd read %.3f ms (%.2f GB/s), h2d %.3f ms "
                 "(%.2f GB/s), decode compute %.3f ms\n",
                 pp.measured->ssd_ms, pp.worker.ssd_gbps, pp.measured->h2d_ms, pp.worker.h2d_gbps,
                 pp.measured->compute_ms);
  }
  std::fprintf(stderr, "%s\n", PlacementSummary(p, pp.worker).c_str());
  const size_t pinned_allocated =
      e.pinned_bytes() + (m.pack->embed_on_gpu() || m.pack->first_layer() != 0
                              ? 0
                              : ForwardPinnedBytes(m.model().config(),
                                                        m.model().options(), true));
  std::fprintf(stderr,
               "memory: GPU predicted %.3f GiB, measured %.3f GiB in use on the device (since "
               "the backend started); pinned predicted %.3f GiB, allocated %.3f GiB\n",
               Gib(p.gpu.total()), Gib(m.backend->DeviceBytesInUse()), Gib(p.pinned.total()),
               Gib(pinned_allocated));
  std::fprintf(stderr, "reads via %s; %.3f GB from the SSD per pass; last pass %.3f ms\n",
               std::string(m.pack->reader().path_kind()).c_str(),
               static_cast<double>(e.ssd_bytes_per_pass()) / 1e9, e.last_pass().wall_ms);
  if (pp.measured) {
    const PassPrediction decode = PredictPass(p, pp.worker, pp.workload, Phase::kDecode);
    std::fprintf(stderr, "predicted decode pass %.3f ms (%s-bound) from the measured stages\n",
                 decode.ms, std::string(StageName(decode.bottleneck)).c_str());
  }
  // Where each layer's bytes live: gpu MB (the whole layer, or a streamed layer's GPU
  // prefix), pinned MB; the rest is read from the SSD.
  std::fprintf(stderr, "%5s %6s %10s %10s %10s %10s %10s %10s\n", "layer", "tier", "gpu MB",
               "pinned MB", "ssd_read", "h2d", "compute", "wait");
  for (size_t l = 0; l < e.last_pass().layers.size(); ++l) {
    const LayerTiming& t = e.last_pass().layers[l];
    const LayerHome& h = e.options().homes[l];
    const size_t gpu = h.tier == Tier::kGpu ? p.layer_bytes : h.gpu_bytes;
    const size_t pinned = h.tier == Tier::kPinned ? p.layer_bytes - h.gpu_bytes
                                                  : h.pinned_bytes;
    std::fprintf(stderr, "%5zu %6s %10.1f %10.1f %8.3fms %8.3fms %8.3fms %8.3fms\n", l,
                 std::string(TierName(h.tier)).c_str(), static_cast<double>(gpu) / 1e6,
                 static_cast<double>(pinned) / 1e6, t.ssd_read_ms, t.h2d_ms, t.compute_ms,
                 t.wait_ms);
  }
}

Status RunGenerate(const GenerateFlags& f) {
  STRATA_ASSIGN_OR_RETURN(const ModelDirectory dir, LoadModelDirectory(f.model.model));
  const ModelConfig& config = dir.config;
  const Tokenizer& tokenizer = *dir.tokenizer;
  STRATA_ASSIGN_OR_RETURN(std::vector<int32_t> prompt, PromptIds(f, dir));

  GenerateOptions options;
  options.max_tokens = f.max_tokens;
  options.sampling = {f.temperature, f.top_k, f.top_p,
                      f.seed_given ? f.seed : std::random_device{}()};
  options.stop_ids = dir.stop_ids;
  const int64_t context = static_cast<int64_t>(prompt.size()) + std::max(f.max_tokens, 1);
  if (context > config.max_position_embeddings) {
    return InvalidArgument("prompt (" + std::to_string(prompt.size()) + " tokens) plus " +
                           "--max-tokens exceeds the model's " +
                           std::to_string(config.max_position_embeddings) + " positions");
  }
  STRATA_ASSIGN_OR_RETURN(const Speculation speculation, SpeculationOf(f));
  const int32_t tree = speculation.tree_tokens;
  ServingLimits engine;
  engine.kv_slots = 1;  // one prompt
  // A tree's nodes take cache rows beyond the context while they are verified.
  engine.max_seq_len = static_cast<int32_t>(context) + tree;
  engine.max_batch_tokens = static_cast<int32_t>(
      std::min<size_t>(ServingLimits{}.max_batch_tokens, std::max<size_t>(prompt.size(), tree + 1)));
  std::optional<ModelDirectory> draft_dir;
  if (speculation.mode != SpeculationMode::kOff) {
    STRATA_ASSIGN_OR_RETURN(draft_dir, LoadModelDirectory(f.draft_model));
    STRATA_RETURN_IF_ERROR(CheckDraftCompatible(dir, *draft_dir));
  }
  STRATA_ASSIGN_OR_RETURN(LoadedModel loaded, LoadModel(f.model, engine));
  std::optional<LoadedModel> draft;
  if (draft_dir) {
    if (!loaded.backend->caps().tree_attention) {
      return Unimplemented("--draft-model needs tree attention, which the " +
                           loaded.backend->caps().name +
                           " backend does not offer in this build; run without --draft-model");
    }
    ModelFlags draft_flags;
    draft_flags.model = f.draft_model;
    draft_flags.backend = f.model.backend;
    STRATA_ASSIGN_OR_RETURN(draft, LoadModel(draft_flags, engine));
  }

  StreamDecoder stream(tokenizer, /*skip_special_tokens=*/true);
  Status stream_status;
  TokenCallback print_token;
  if (!f.json) {
    print_token = [&](int32_t id) {
      StatusOr<std::string> piece = stream.Push(id);
      if (!piece.ok()) {
        stream_status = piece.status();
        return;
      }
      std::fputs(piece->c_str(), stdout);
      std::fflush(stdout);
    };
  }
  GenerateResult result;
  std::optional<SpeculativeStats> speculative_stats;
  if (draft) {
    SpeculativeOptions spec;
    spec.tree_tokens = tree;
    spec.adaptive = speculation.mode == SpeculationMode::kAuto;
    spec.branch = f.draft_branch;
    STRATA_ASSIGN_OR_RETURN(SpeculativeResult r,
                            GenerateSpeculative(loaded.model(), draft->model(), prompt, options,
                                                spec, print_token));
    result = std::move(r.generated);
    speculative_stats = r.stats;
  } else {
    STRATA_ASSIGN_OR_RETURN(result, Generate(loaded.model(), prompt, options, print_token));
  }
  STRATA_RETURN_IF_ERROR(stream_status);
  if (!f.dump_logits.empty()) {
    STRATA_RETURN_IF_ERROR(WriteLogits(f.dump_logits, result.prompt_last_logits));
  }
  if (f.json) {
    STRATA_ASSIGN_OR_RETURN(std::string text,
                            tokenizer.Decode(result.output_ids, /*skip_special_tokens=*/true));
    nlohmann::json out = {
        {"input_ids", prompt},
        {"output_ids", result.output_ids},
        {"text", text},
        {"finish_reason", FinishReasonName(result.finish_reason)}};
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s\n", stream.Flush().c_str());
  }
  std::fflush(stdout);  // the text before the stats on a shared terminal
  if (f.stats) {
    PrintStats(loaded, result, prompt.size());
    if (speculative_stats) PrintSpeculativeStats(*speculative_stats, speculation);
  }
  return OkStatus();
}

}  // namespace

void AddGenerateCommand(CLI::App& app, CommandRunner& run) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt or a chat");
  cmd->add_option("--model", f->model.model, "Hugging Face model directory or Strata pack")
      ->required();
  auto* prompt = cmd->add_option("--prompt", f->prompt, "Prompt text (BOS is added)");
  auto* chat = cmd->add_option("--chat", f->chat_file,
                               "JSON file: list of {\"role\", \"content\"}; rendered with the "
                               "model's chat template plus the assistant prompt");
  prompt->excludes(chat);
  cmd->add_option("--max-tokens", f->max_tokens, "Tokens to generate at most")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temperature", f->temperature, "Sampling temperature; 0 = greedy")
      ->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-p", f->top_p, "Nucleus sampling mass, in (0, 1]")
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--top-k", f->top_k, "Sample among the K most likely tokens; 0 = all")
      ->check(CLI::NonNegativeNumber);
  auto* seed = cmd->add_option("--seed", f->seed, "Random seed (same seed, same tokens)");
  cmd->add_flag("--json", f->json, "Print {\"input_ids\", \"output_ids\", \"text\"} as JSON");
  cmd->add_option("--dump-logits", f->dump_logits,
                  "Write the float32 little-endian logits at the last prompt position here");
  cmd->add_option("--backend", f->model.backend, "cpu, cuda or cuda:N (cuda needs a pack)");
  cmd->add_flag("--fp8-activations", f->model.fp8_activations,
                "CUDA, fp8 packs: prefill GEMMs in fp8 (W8A8, faster, slightly less exact) "
                "instead of fp8 weights widened to bf16 (W8A16)");
  cmd->add_option("--gpu-layers", f->model.gpu_layers, "Pack: layers resident in GPU memory")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--pinned-layers", f->model.pinned_layers,
                  "Pack: the next layers kept in pinned host memory; the rest stream from disk")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--gpu-mem", f->model.gpu_mem,
                  "Pack: the process's GPU memory: layers, staging, LM head, KV cache, "
                  "activations, workspace, e.g. 12G (default: 90% of the device)");
  cmd->add_option("--pinned-mem", f->model.pinned_mem,
                  "Pack: the process's pinned host memory: layers, staging ring, embedding "
                  "rows, e.g. 32G (default: half of free RAM)");
  cmd->add_option("--prefetch-ssd", f->model.prefetch_ssd,
                  "Pack: layers' bytes the disk reads run ahead (the staging ring; default: "
                  "what keeps the disk busy, from measured stage times)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--prefetch-h2d", f->model.prefetch_h2d,
                  "Pack: layers the GPU copies run ahead, GPU slots - 1 (default: 0 or 1, "
                  "whichever is predicted faster)")
      ->check(CLI::Range(0, 1024));
  cmd->add_flag("--verify-streamed,!--no-verify-streamed", f->model.verify_streamed,
                "Pack: check each streamed layer against its checksum (default on)");
  cmd->add_flag("--stats", f->stats, "Print prefill/decode rates and per-layer stage times");
  cmd->add_option("--draft-model", f->draft_model,
                  "Decode speculatively with this small model of the same tokenizer (a Hugging "
                  "Face directory or pack): the same tokens, fewer passes over --model");
  cmd->add_option("--speculative", f->speculative,
                  "With --draft-model: auto (tree size from measured pass costs and acceptance; "
                  "the default), off, or N tree tokens verified per pass");
  cmd->add_option("--draft-branch", f->draft_branch,
                  "Children the draft ranks below each node of its tree")
      ->check(CLI::Range(1, 64));
  cmd->callback([f, prompt, chat, seed, &run] {
    f->seed_given = seed->count() > 0;
    const bool has_input = prompt->count() > 0 || chat->count() > 0;
    run = [f, has_input]() -> Status {
      if (!has_input) return InvalidArgument("give --prompt TEXT or --chat FILE.json");
      return RunGenerate(*f);
    };
  });
}

}  // namespace strata::cli
