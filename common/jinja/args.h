// Binding call arguments to a Python-style signature for built-in functions, filters, tests
// and methods: positional arguments fill parameters in order, then keywords by name, then
// defaults; errors read like Python's ("join() got an unexpected keyword argument 'x'").
// Thread-safety: pure functions.
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>
#include <vector>

#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

struct Param {
  std::string_view name;
  std::optional<Value> default_value;  // nullopt: required
};

// Moves the arguments out of `args` into one value per parameter, in parameter order.
StatusOr<std::vector<Value>> BindArgs(std::string_view function, CallArgs& args,
                                      std::initializer_list<Param> params);

// For parameters that must be integers (or absent, as None): the int, or a TypeError naming
// the parameter.
StatusOr<std::optional<int64_t>> OptionalInt(std::string_view function, std::string_view param,
                                             const Value& v);

}  // namespace strata::jinja
