// BindArgs: Python-style argument binding; see args.h.
#include "common/jinja/args.h"

#include <string>

namespace strata::jinja {

StatusOr<std::vector<Value>> BindArgs(std::string_view function, CallArgs& args,
                                      std::initializer_list<Param> params) {
  std::string name(function);
  if (args.positional.size() > params.size()) {
    return TypeError(name + "() takes at most " + std::to_string(params.size()) + " argument(s) (" +
                     std::to_string(args.positional.size()) + " given)");
  }
  std::vector<std::optional<Value>> bound(params.size());
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = std::move(args.positional[i]);
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    for (const Param& p : params) {
      if (p.name == key) break;
      ++i;
    }
    if (i == params.size()) {
      return TypeError(name + "() got an unexpected keyword argument '" + key + "'");
    }
    if (bound[i]) return TypeError(name + "() got multiple values for argument '" + key + "'");
    bound[i] = std::move(value);
  }
  std::vector<Value> out;
  out.reserve(params.size());
  size_t i = 0;
  for (const Param& p : params) {
    if (bound[i]) {
      out.push_back(std::move(*bound[i]));
    } else if (p.default_value) {
      out.push_back(*p.default_value);
    } else {
      return TypeError(name + "() missing required argument '" + std::string(p.name) + "'");
    }
    ++i;
  }
  return out;
}

StatusOr<std::optional<int64_t>> OptionalInt(std::string_view function, std::string_view param,
                                             const Value& v) {
  if (v.is_none()) return std::optional<int64_t>();
  if (v.is_integral()) return std::optional<int64_t>(v.integer());
  return TypeError(std::string(function) + "(): '" + std::string(param) +
                   "' must be an integer, not '" + std::string(TypeName(v)) + "'");
}

}  // namespace strata::jinja
