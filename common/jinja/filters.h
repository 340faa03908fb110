// The filter table (`value | name(args)`), with jinja2's built-in filters that chat templates
// use and transformers' `tojson`. Scalar (text and number) filters are in filters_scalar.cc,
// collection filters in filters_collection.cc. Thread-safety: the table is built once, then read.
#pragma once

#include <string_view>
#include <unordered_map>

#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

using FilterFn = StatusOr<Value> (*)(const Value& input, CallArgs& args);
using FilterTable = std::unordered_map<std::string_view, FilterFn>;

bool HasFilter(std::string_view name);
// Applies filter `name` (which must exist: HasFilter) to `input`.
StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, CallArgs& args);

// Implementation detail of the table: each group adds its filters.
void AddScalarFilters(FilterTable& table);
void AddCollectionFilters(FilterTable& table);

}  // namespace strata::jinja
