// Global functions; see globals.h.
#include "common/jinja/globals.h"

#include <ctime>

#include "common/jinja/args.h"
#include "common/jinja/limits.h"

namespace strata::jinja {
namespace {

// range(stop) / range(start, stop[, step]) as a list, limited like jinja2's sandbox.
StatusOr<Value> Range(CallArgs& args) {
  if (!args.keyword.empty()) return TypeError("range() takes no keyword arguments");
  size_t n = args.positional.size();
  if (n < 1 || n > 3) return TypeError("range expected 1 to 3 arguments, got " + std::to_string(n));
  int64_t bounds[3] = {0, 0, 1};
  for (size_t i = 0; i < n; ++i) {
    const Value& v = args.positional[i];
    if (!v.is_integral()) {
      return TypeError("'" + std::string(TypeName(v)) +
                       "' object cannot be interpreted as an integer");
    }
    bounds[n == 1 ? 1 : i] = v.integer();
  }
  auto [start, stop, step] = bounds;
  if (step == 0) return TypeError("range() arg 3 must not be zero");
  // The element count in unsigned arithmetic (the distance always fits in 64 bits).
  uint64_t count = 0;
  if (step > 0 ? start < stop : start > stop) {
    uint64_t span = step > 0 ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start)
                             : static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
    uint64_t stride = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
    count = (span - 1) / stride + 1;
  }
  if (count > static_cast<uint64_t>(kMaxRange)) {
    return TypeError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" +
                     std::to_string(kMaxRange) + ").");
  }
  std::vector<Value> items;
  for (uint64_t i = 0; i < count; ++i) {
    items.push_back(Value::Int(
        static_cast<int64_t>(static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step))));
  }
  return Value::MakeList(std::move(items));
}

// dict(mapping_or_pairs, **kwargs).
StatusOr<Value> MakeDict(CallArgs& args) {
  if (args.positional.size() > 1) return TypeError("dict expected at most 1 argument");
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.dict();
    } else {
      STRATA_ASSIGN_OR_RETURN(std::vector<Value> pairs, Iterate(source));
      for (const Value& pair : pairs) {
        if (!pair.is_sequence() || pair.list().items.size() != 2) {
          return TypeError("dictionary update sequence elements must be pairs");
        }
        dict.Set(pair.list().items[0], pair.list().items[1]);
      }
    }
  }
  for (auto& [key, value] : args.keyword) dict.Set(Value::Str(key), std::move(value));
  return Value::MakeDict(std::move(dict));
}

// namespace(mapping, **attrs): a mutable object for `{% set ns.attr = ... %}`.
StatusOr<Value> MakeNamespace(CallArgs& args) {
  Namespace ns;
  for (const Value& source : args.positional) {
    if (!source.is_dict()) return TypeError("namespace() positional arguments must be mappings");
    for (const auto& [key, value] : source.dict().entries) ns.Set(ToStr(key), value);
  }
  for (auto& [key, value] : args.keyword) ns.Set(key, std::move(value));
  return Value::MakeNamespace(std::move(ns));
}

StatusOr<Value> RaiseException(CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("raise_exception", args, {{"message", std::nullopt}}));
  return InvalidArgument(ToStr(a[0]));
}

StatusOr<Value> StrftimeNow(CallArgs& args, const std::optional<std::tm>& fixed_now) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("strftime_now", args, {{"format", std::nullopt}}));
  if (!a[0].is_string()) return TypeError("strftime_now() argument must be str");
  std::tm now{};
  if (fixed_now) {
    now = *fixed_now;
  } else {
    std::time_t t = std::time(nullptr);
    localtime_r(&t, &now);
  }
  const std::string& format = a[0].str();
  if (format.empty()) return Value::Str("");
  // strftime returns 0 both for "too small" and for an empty result: grow a few times.
  for (size_t size = 256; size <= 65536; size *= 4) {
    std::string out(size, '\0');
    size_t n = std::strftime(out.data(), out.size(), format.c_str(), &now);
    if (n > 0) {
      out.resize(n);
      return Value::Str(std::move(out));
    }
  }
  return Value::Str("");
}

}  // namespace

std::vector<std::pair<std::string, Value>> MakeGlobals(const RenderOptions& options) {
  std::optional<std::tm> fixed_now = options.fixed_now;
  return {
      {"range", Value::MakeFunction("range", Range)},
      {"dict", Value::MakeFunction("dict", MakeDict)},
      {"namespace", Value::MakeFunction("namespace", MakeNamespace)},
      {"raise_exception", Value::MakeFunction("raise_exception", RaiseException)},
      {"strftime_now",
       Value::MakeFunction("strftime_now",
                           [fixed_now](CallArgs& args) { return StrftimeNow(args, fixed_now); })},
  };
}

}  // namespace strata::jinja
