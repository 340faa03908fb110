// strata: the command-line entry point. Parses the subcommand, runs it, and turns an error
// into a one-line message on stderr and exit code 1 (usage errors: CLI11's message, exit 2).
#include <cstdio>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Strata: serve Llama 3.x models larger than one GPU"};
  app.require_subcommand(1);
  strata::cli::CommandRunner run;
  strata::cli::AddTokenizeCommand(app, run);
  strata::cli::AddGenerateCommand(app, run);
  strata::cli::AddPackCommand(app, run);
  strata::cli::AddBenchTransportCommand(app, run);
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
