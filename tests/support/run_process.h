// Runs a program to completion for tests, capturing its exit code, stdout and stderr.
// Thread-safety: each call is independent.
#pragma once

#include <string>
#include <vector>

namespace strata::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal
  std::string out;
  std::string err;
};

// argv[0] is the program path. `stdin_text` is written to its stdin.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_text = "");

}  // namespace strata::testing
