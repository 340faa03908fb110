// The test table (`value is name(args)`): jinja2's built-in tests (defined, undefined, none,
// boolean, true, false, integer, float, number, string, mapping, iterable, sequence,
// callable, sameas, in, odd, even, divisibleby, lower, upper, filter, test, and the
// comparisons eq/equalto/==, ne/!=, lt/lessthan/<, le/<=, gt/greaterthan/>, ge/>=).
// Thread-safety: the table is built once, then read.
#pragma once

#include <string_view>

#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

bool HasTest(std::string_view name);
// Applies test `name` (which must exist: HasTest) to `value`.
StatusOr<bool> ApplyTest(std::string_view name, const Value& value, CallArgs& args);

}  // namespace strata::jinja
