// The global functions every template sees: jinja2's range, dict and namespace, and
// transformers' raise_exception (fails the render with the template's message) and
// strftime_now (the local time, or RenderOptions::fixed_now, through strftime).
// Thread-safety: the functions are pure (strftime_now reads the clock).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/jinja/template.h"
#include "common/jinja/value.h"

namespace strata::jinja {

std::vector<std::pair<std::string, Value>> MakeGlobals(const RenderOptions& options);

}  // namespace strata::jinja
