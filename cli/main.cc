// strata: the command-line entry point. Parses the subcommand, runs it, and turns an error
// into a one-line message on stderr and exit code 1 (usage errors: CLI11's message, exit 2).
// Log lines go to stderr, so stdout carries only a command's output (text or --json).
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"

int main(int argc, char** argv) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "strata", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  CLI::App app{"Strata: serve Llama 3.x models larger than one GPU"};
  app.require_subcommand(1);
  strata::cli::CommandRunner run;
  strata::cli::AddTokenizeCommand(app, run);
  strata::cli::AddGenerateCommand(app, run);
  strata::cli::AddPackCommand(app, run);
  strata::cli::AddBenchCommand(app, run);
  strata::cli::AddPlanCommand(app, run);
  strata::cli::AddClusterCommand(app, run);
  strata::cli::AddBenchTransportCommand(app, run);
  strata::cli::AddBenchDiskCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  const strata::Status status = run();
  if (!status.ok()) {
    std::fprintf(stderr, "strata: error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
