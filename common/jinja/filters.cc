// The filter table; see filters.h.
#include "common/jinja/filters.h"

#include <string>

namespace strata::jinja {
namespace {

const FilterTable& Table() {
  static const FilterTable table = [] {
    FilterTable t;
    AddScalarFilters(t);
    AddCollectionFilters(t);
    return t;
  }();
  return table;
}

}  // namespace

bool HasFilter(std::string_view name) { return Table().contains(name); }

StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, CallArgs& args) {
  auto it = Table().find(name);
  if (it == Table().end()) return TypeError("no filter named '" + std::string(name) + "'");
  return it->second(input, args);
}

}  // namespace strata::jinja
