// `promtool check metrics` over a /metrics exposition, for tests that lint metric names:
// returns what promtool reports (empty: nothing to fix), or why it could not run.
// Thread-safety: none needed (a temporary file per call).
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace strata::testing {

inline std::string PromtoolReport(const std::string& exposition) {
  const std::string file = ::testing::TempDir() + "/promtool_input_" +
                           std::to_string(reinterpret_cast<uintptr_t>(&exposition)) + ".txt";
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (f == nullptr) return "cannot write " + file;
  std::fwrite(exposition.data(), 1, exposition.size(), f);
  std::fclose(f);
  std::FILE* p = ::popen(("promtool check metrics < " + file + " 2>&1").c_str(), "r");
  if (p == nullptr) return "cannot run promtool (scripts/deps.sh installs it with prometheus)";
  std::string report;
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), p) != nullptr) report += buffer;
  const int status = ::pclose(p);
  std::remove(file.c_str());
  if (status != 0 && report.empty()) report = "promtool exited with status " + std::to_string(status);
  return report;
}

}  // namespace strata::testing
