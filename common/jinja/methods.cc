// Methods callable on template values (declared in attributes.h): str.strip/lstrip/rstrip/
// split/splitlines/startswith/endswith/upper/lower/title/capitalize/replace/find/count/join
// and dict.items/keys/values/get. Mutating list and dict methods are refused as jinja2's
// immutable sandbox refuses them. Thread-safety: pure functions.
#include <string>

#include "common/jinja/args.h"
#include "common/jinja/attributes.h"
#include "common/jinja/pystring.h"

namespace strata::jinja {
namespace {

using Method = StatusOr<Value> (*)(const Value& self, CallArgs& args);

StatusOr<Value> StripMethod(const Value& self, CallArgs& args, std::string_view name,
                            StripSide side) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"chars", Value::None()}}));
  if (a[0].is_none()) return Value::Str(std::string(Strip(self.str(), side)));
  if (!a[0].is_string()) return TypeError(std::string(name) + " arg must be None or str");
  return Value::Str(std::string(StripChars(self.str(), a[0].str(), side)));
}

StatusOr<Value> Split(const Value& self, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("split", args, {{"sep", Value::None()}, {"maxsplit", Value::Int(-1)}}));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> maxsplit, OptionalInt("split", "maxsplit", a[1]));
  int64_t limit = maxsplit.value_or(-1);
  std::vector<std::string> parts;
  if (a[0].is_none()) {
    parts = SplitWhitespace(self.str(), limit);
  } else if (!a[0].is_string()) {
    return TypeError("must be str or None, not " + std::string(TypeName(a[0])));
  } else if (a[0].str().empty()) {
    return TypeError("empty separator");
  } else {
    parts = SplitOn(self.str(), a[0].str(), limit);
  }
  std::vector<Value> out;
  for (std::string& p : parts) out.push_back(Value::Str(std::move(p)));
  return Value::MakeList(std::move(out));
}

StatusOr<Value> Affix(const Value& self, CallArgs& args, std::string_view name, bool prefix) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"affix", std::nullopt}}));
  std::vector<Value> candidates;
  if (a[0].is_tuple()) {
    candidates = a[0].list().items;
  } else {
    candidates.push_back(a[0]);
  }
  const std::string& s = self.str();
  for (const Value& c : candidates) {
    if (!c.is_string()) {
      return TypeError(std::string(name) + " first arg must be str or a tuple of str, not " +
                       std::string(TypeName(c)));
    }
    const std::string& x = c.str();
    if (prefix ? s.starts_with(x) : s.ends_with(x)) return Value::Bool(true);
  }
  return Value::Bool(false);
}

StatusOr<Value> ReplaceMethod(const Value& self, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("replace", args,
                       {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::Int(-1)}}));
  if (!a[0].is_string() || !a[1].is_string()) return TypeError("replace() arguments must be str");
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> count, OptionalInt("replace", "count", a[2]));
  return Value::Str(Replace(self.str(), a[0].str(), a[1].str(), count.value_or(-1)));
}

StatusOr<Value> FindOrCount(const Value& self, CallArgs& args, bool count) {
  std::string_view name = count ? "count" : "find";
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs(name, args, {{"sub", std::nullopt}}));
  if (!a[0].is_string()) return TypeError(std::string(name) + "() argument must be str");
  const std::string& s = self.str();
  const std::string& sub = a[0].str();
  if (!count) {
    size_t at = s.find(sub);
    if (at == std::string::npos) return Value::Int(-1);
    return Value::Int(static_cast<int64_t>(CodePointCount(std::string_view(s).substr(0, at))));
  }
  if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
  return Value::Int(n);
}

StatusOr<Value> Join(const Value& self, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("join", args, {{"iterable", std::nullopt}}));
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(a[0]));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      return TypeError("sequence item " + std::to_string(i) + ": expected str instance, " +
                       std::string(TypeName(items[i])) + " found");
    }
    if (i > 0) out += self.str();
    out += items[i].str();
  }
  return Value::Str(std::move(out));
}

StatusOr<Value> NoArgs(std::string_view name, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs(name, args, {}).status());
  return Value::None();
}

StatusOr<Value> DictView(const Value& self, CallArgs& args, std::string_view name) {
  STRATA_RETURN_IF_ERROR(NoArgs(name, args).status());
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries) {
    if (name == "keys") {
      out.push_back(k);
    } else if (name == "values") {
      out.push_back(v);
    } else {
      out.push_back(Value::MakeTuple({k, v}));
    }
  }
  return Value::MakeList(std::move(out));
}

StatusOr<Value> DictGet(const Value& self, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("get", args, {{"key", std::nullopt}, {"default", Value::None()}}));
  const Value* v = self.dict().Find(a[0]);
  return v ? *v : a[1];
}

template <std::string (*Fn)(std::string_view)>
StatusOr<Value> StringTransform(const Value& self, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(NoArgs("str method", args).status());
  return Value::Str(Fn(self.str()));
}

StatusOr<Value> SplitLinesMethod(const Value& self, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(NoArgs("splitlines", args).status());
  std::vector<Value> out;
  for (std::string& line : SplitLines(self.str())) out.push_back(Value::Str(std::move(line)));
  return Value::MakeList(std::move(out));
}

struct NamedMethod {
  std::string_view name;
  Method fn;
};

constexpr NamedMethod kStringMethods[] = {
    {"strip",
     [](const Value& s, CallArgs& a) { return StripMethod(s, a, "strip", StripSide::kBoth); }},
    {"lstrip",
     [](const Value& s, CallArgs& a) { return StripMethod(s, a, "lstrip", StripSide::kLeft); }},
    {"rstrip",
     [](const Value& s, CallArgs& a) { return StripMethod(s, a, "rstrip", StripSide::kRight); }},
    {"split", Split},
    {"splitlines", SplitLinesMethod},
    {"startswith", [](const Value& s, CallArgs& a) { return Affix(s, a, "startswith", true); }},
    {"endswith", [](const Value& s, CallArgs& a) { return Affix(s, a, "endswith", false); }},
    {"upper", StringTransform<ToUpper>},
    {"lower", StringTransform<ToLower>},
    {"title", StringTransform<TitleCase>},
    {"capitalize", StringTransform<Capitalize>},
    {"replace", ReplaceMethod},
    {"find", [](const Value& s, CallArgs& a) { return FindOrCount(s, a, false); }},
    {"count", [](const Value& s, CallArgs& a) { return FindOrCount(s, a, true); }},
    {"join", Join},
};

constexpr NamedMethod kDictMethods[] = {
    {"items", [](const Value& d, CallArgs& a) { return DictView(d, a, "items"); }},
    {"keys", [](const Value& d, CallArgs& a) { return DictView(d, a, "keys"); }},
    {"values", [](const Value& d, CallArgs& a) { return DictView(d, a, "values"); }},
    {"get", DictGet},
};

constexpr std::string_view kMutatingListMethods[] = {"append", "extend", "insert", "pop",
                                                     "remove", "clear",  "sort",   "reverse"};
constexpr std::string_view kMutatingDictMethods[] = {"pop", "popitem", "setdefault", "update",
                                                     "clear"};

template <size_t N>
std::optional<Value> Bind(const Value& self, std::string_view type, std::string_view name,
                          const NamedMethod (&table)[N]) {
  for (const NamedMethod& m : table) {
    if (m.name != name) continue;
    Method fn = m.fn;
    return Value::MakeFunction(std::string(type) + "." + std::string(name),
                               [self, fn](CallArgs& args) { return fn(self, args); });
  }
  return std::nullopt;
}

template <size_t N>
std::optional<Value> Refuse(std::string_view type, std::string_view name,
                            const std::string_view (&names)[N]) {
  for (std::string_view n : names) {
    if (n == name) {
      return Value::Undefined("access to attribute '" + std::string(name) + "' of '" +
                              std::string(type) + "' object is unsafe.");
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Value> BoundMethod(const Value& obj, std::string_view name) {
  switch (obj.kind()) {
    case Value::Kind::kString: return Bind(obj, "str", name, kStringMethods);
    case Value::Kind::kDict:
      if (auto m = Bind(obj, "dict", name, kDictMethods)) return m;
      return Refuse("dict", name, kMutatingDictMethods);
    case Value::Kind::kList:
      if (obj.is_tuple()) return std::nullopt;
      return Refuse("list", name, kMutatingListMethods);
    default: return std::nullopt;
  }
}

}  // namespace strata::jinja
