// Renders a LayerBenchReport: the seed-style text tables and the --json document.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "common/bench/layer_bench.h"

namespace strata {

std::string LayerBenchText(const LayerBenchReport& report);
nlohmann::json LayerBenchJson(const LayerBenchReport& report);

}  // namespace strata
