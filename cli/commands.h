// The `strata` subcommands. Each Add*Command registers its flags on the app and the
// function that runs it; a command reports failure by returning a non-OK Status, which
// main prints as one line. Thread-safety: called from main only.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

#include "common/util/status.h"

namespace strata::cli {

// Set by the subcommand that was chosen; main runs it after parsing.
using CommandRunner = std::function<Status()>;

void AddTokenizeCommand(CLI::App& app, CommandRunner& run);
void AddGenerateCommand(CLI::App& app, CommandRunner& run);
void AddPackCommand(CLI::App& app, CommandRunner& run);
void AddBenchCommand(CLI::App& app, CommandRunner& run);
void AddPlanCommand(CLI::App& app, CommandRunner& run);
void AddClusterCommand(CLI::App& app, CommandRunner& run);
void AddBenchTransportCommand(CLI::App& app, CommandRunner& run);
void AddBenchDiskCommand(CLI::App& app, CommandRunner& run);

}  // namespace strata::cli
