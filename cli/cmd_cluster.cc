// `strata cluster up|down`: the local cluster launcher (cli/cluster/local_cluster.h).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/cluster/local_cluster.h"
#include "cli/commands.h"

namespace strata::cli {

void AddClusterCommand(CLI::App& app, CommandRunner& run) {
  auto o = std::make_shared<LocalClusterOptions>();
  o->run_dir = DefaultRunDir();
  CLI::App* cmd = app.add_subcommand("cluster", "Run a Strata cluster on this machine");
  cmd->require_subcommand(1);
  CLI::App* up = cmd->add_subcommand(
      "up", "Start a coordinator and N workers here; stop them with Ctrl-C or `cluster down`");
  up->add_option("--model", o->model, "A Strata pack or a Hugging Face directory (packed once)")
      ->required();
  up->add_option("--workers", o->workers, "Worker processes (pipeline stages)")
      ->capture_default_str()->check(CLI::Range(1, 64));
  up->add_option("--http", o->http_port, "Port of the HTTP API on 127.0.0.1")
      ->capture_default_str()->check(CLI::Range(1, 65535));
  up->add_option("--backend", o->backend,
                 "Backend of the workers: cpu, cuda, cuda:N, or a comma-separated list taken in "
                 "turn (cuda:0,cuda:1: a GPU each)")
      ->capture_default_str();
  up->add_option("--transport", o->transport,
                 "Data plane between workers: ucx (host staging) or nccl (GPU to GPU; a GPU per "
                 "worker)")
      ->capture_default_str()->check(CLI::IsMember({"ucx", "nccl"}));
  up->add_flag("--fp8-activations", o->fp8_activations,
               "Workers: prefill GEMMs of fp8 packs in fp8 (W8A8) instead of W8A16 (CUDA)");
  up->add_option("--link-gbps", o->link_gbps,
                 "The hop between workers in GB/s, for the plan's predictions (with "
                 "--link-latency-ms; `strata bench-transport` measures both)");
  up->add_option("--link-latency-ms", o->link_latency_ms, "The hop's one-way latency in ms");
  up->add_option("--dtype", o->dtype, "Pack dtype when --model is a Hugging Face directory")
      ->capture_default_str()->check(CLI::IsMember({"bf16", "fp8"}));
  // The coordinator checks them against the model too (ValidateServingLimits).
  up->add_option("--kv-slots", o->limits.kv_slots, "Sequences served at once")
      ->capture_default_str()->check(CLI::Range(1, kMaxKvSlots));
  up->add_option("--max-batch-tokens", o->limits.max_batch_tokens, "Tokens per pipeline step")
      ->capture_default_str()->check(CLI::Range(1, kMaxBatchTokensLimit));
  up->add_option("--max-seq-len", o->limits.max_seq_len,
                 "Most tokens a sequence holds: prompt plus max_tokens")
      ->capture_default_str()->check(CLI::PositiveNumber);
  up->add_option("--gpu-mem", o->worker_gpu_mem,
                 "The workers' GPU budget (strata-worker --gpu-mem): a size (14G) or a "
                 "comma-separated list taken in turn; a CPU worker plans against it as if it were "
                 "a GPU's, streaming the layers beyond it");
  up->add_option("--pinned-mem", o->worker_pinned_mem,
                 "The workers' pinned host budget (strata-worker --pinned-mem): a size or a "
                 "comma-separated list taken in turn");
  up->add_option("--api-key-file", o->api_key_file,
                 "File holding the API key clients must send (Authorization: Bearer KEY)")
      ->check(CLI::ExistingFile);
  up->add_option("--served-model-name", o->served_model_names,
                 "The model's name in the API (repeat for aliases); default: the checkpoint "
                 "directory's name");
  up->add_option("--draft-model", o->draft_model,
                 "Speculative decoding: a small model of the same tokenizer (pack, or Hugging "
                 "Face directory packed once), resident on the last worker");
  up->add_option("--speculative", o->speculative,
                 "With --draft-model: auto (the default), off, or N tree tokens per pass");
  up->add_option("--draft-branch", o->draft_branch,
                 "Children the draft ranks below each node of its trees")
      ->capture_default_str()->check(CLI::Range(1, 64));
  up->add_option("--run-dir", o->run_dir, "Logs, token, pid file and packs")->capture_default_str();
  const RestartLimits limits;
  auto seconds = [](std::chrono::milliseconds d) {
    char text[32];
    std::snprintf(text, sizeof text, "%g s", static_cast<double>(d.count()) / 1000);
    return std::string(text);
  };
  up->add_option("--max-restarts", o->max_restarts,
                 "Restarts of a worker that exits, within " + seconds(limits.window) +
                     ", each after a backoff (" + seconds(limits.first_backoff) +
                     ", doubling, at most " + seconds(limits.max_backoff) +
                     "); then it stays down (0: never restart)")
      ->capture_default_str()->check(CLI::Range(0, 1000));
  // The launcher's exit code is the coordinator's once it serves (128 + signal when killed).
  up->callback([o, &run] {
    run = [o]() -> Status {
      STRATA_ASSIGN_OR_RETURN(const int exit_code, RunLocalCluster(*o));
      if (exit_code != 0) {
        std::fflush(stdout);
        std::exit(exit_code);
      }
      return OkStatus();
    };
  });

  auto down_dir = std::make_shared<std::string>(DefaultRunDir());
  CLI::App* down = cmd->add_subcommand("down", "Stop the cluster `cluster up` started");
  down->add_option("--run-dir", *down_dir, "The run directory of `cluster up`")->capture_default_str();
  down->callback([down_dir, &run] {
    run = [down_dir] { return StopLocalCluster(*down_dir, kLauncherStopTimeout); };
  });
}

}  // namespace strata::cli
