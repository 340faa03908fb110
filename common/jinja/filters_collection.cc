// Collection filters: length/count, first, last, join, default/d, list, reverse, sort, unique,
// items, dictsort, map, select, reject, selectattr, rejectattr, min, max, sum. Those that
// return generators in jinja2 (map, select/reject(attr), unique, items, reverse) return
// iterator values (always true, no length), though a second iteration is not empty here.
// Thread-safety: pure functions.
#include <algorithm>
#include <string>

#include "common/jinja/args.h"
#include "common/jinja/attributes.h"
#include "common/jinja/filters.h"
#include "common/jinja/is_tests.h"
#include "common/jinja/limits.h"
#include "common/jinja/operators.h"
#include "common/jinja/pystring.h"

namespace strata::jinja {
namespace {

// jinja2's make_attrgetter: `attribute` (a dotted path, or an integer index) of `item`, then
// lowercased when it is a string and the comparison ignores case. A comma-separated path
// (sort only) makes a list of keys.
StatusOr<Value> KeyOf(const Value& item, const Value& attribute, bool ignore_case,
                      bool multi = false) {
  Value key = item;
  if (attribute.is_string() && multi && attribute.str().find(',') != std::string::npos) {
    std::vector<Value> keys;
    for (const std::string& part : SplitOn(attribute.str(), ",", -1)) {
      STRATA_ASSIGN_OR_RETURN(Value k, KeyOf(item, Value::Str(part), ignore_case));
      keys.push_back(std::move(k));
    }
    return Value::MakeList(std::move(keys));
  }
  if (attribute.is_string()) {
    STRATA_ASSIGN_OR_RETURN(key, GetAttributePath(item, attribute.str()));
  } else if (attribute.is_integral()) {
    STRATA_ASSIGN_OR_RETURN(key, GetItem(item, attribute));
  }
  if (ignore_case && key.is_string()) key = Value::Str(ToLower(key.str()));
  return key;
}

StatusOr<Value> Length(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("length", args, {}).status());
  switch (input.kind()) {
    case Value::Kind::kUndefined: return Value::Int(0);
    case Value::Kind::kString: return Value::Int(static_cast<int64_t>(CodePointCount(input.str())));
    case Value::Kind::kList:
      if (input.is_iterator()) break;
      return Value::Int(static_cast<int64_t>(input.list().items.size()));
    case Value::Kind::kDict: return Value::Int(static_cast<int64_t>(input.dict().entries.size()));
    default: break;
  }
  return TypeError("object of type '" + std::string(TypeName(input)) + "' has no len()");
}

StatusOr<Value> FirstOrLast(const Value& input, CallArgs& args, bool first) {
  STRATA_RETURN_IF_ERROR(BindArgs(first ? "first" : "last", args, {}).status());
  if (!first && !input.is_undefined() && !input.is_string() && !input.is_sequence() &&
      !input.is_dict()) {
    return TypeError("'" + std::string(TypeName(input)) + "' object is not reversible");
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  if (items.empty()) {
    return Value::Undefined(std::string("No ") + (first ? "first" : "last") +
                            " item, sequence was empty.");
  }
  return first ? items.front() : items.back();
}

StatusOr<Value> JoinFilter(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("join", args, {{"d", Value::Str("")}, {"attribute", Value::None()}}));
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  std::string separator = ToStr(a[0]);
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (!a[1].is_none()) {
      STRATA_ASSIGN_OR_RETURN(item, KeyOf(item, a[1], false));
    }
    if (i > 0) out += separator;
    out += ToStr(item);
    if (out.size() > kMaxStringBytes) return ResourceExhausted("join result is larger than 64 MiB");
  }
  return Value::Str(std::move(out));
}

StatusOr<Value> Default(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("default", args,
                       {{"default_value", Value::Str("")}, {"boolean", Value::Bool(false)}}));
  if (input.is_undefined() || (Truthy(a[1]) && !Truthy(input))) return a[0];
  return input;
}

StatusOr<Value> ListFilter(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("list", args, {}).status());
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  return Value::MakeList(std::move(items));
}

StatusOr<Value> Reverse(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("reverse", args, {}).status());
  if (input.is_string()) {
    std::vector<size_t> offsets = CodePointOffsets(input.str());
    std::string out;
    for (size_t i = offsets.size() - 1; i > 0; --i)
      out += input.str().substr(offsets[i - 1], offsets[i] - offsets[i - 1]);
    return Value::Str(std::move(out));
  }
  StatusOr<std::vector<Value>> items = Iterate(input);
  if (!items.ok()) return TypeError("argument must be iterable");
  std::reverse(items->begin(), items->end());
  // reversed() of a generator fails and jinja2 falls back to a reversed list.
  return input.is_iterator() ? Value::MakeList(std::move(*items))
                             : Value::MakeIterator(std::move(*items));
}

// Stable sort of `items` by their keys (Python's sorted(..., key=..., reverse=...)).
StatusOr<std::vector<Value>> SortedBy(std::vector<Value> items, std::vector<Value> keys,
                                      bool reverse) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Status error;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    StatusOr<int> c = reverse ? Compare(keys[y], keys[x]) : Compare(keys[x], keys[y]);
    if (!c.ok() && error.ok()) error = c.status();
    return c.ok() && *c < 0;
  });
  STRATA_RETURN_IF_ERROR(error);
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

StatusOr<Value> Sort(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("sort", args,
                                           {{"reverse", Value::Bool(false)},
                                            {"case_sensitive", Value::Bool(false)},
                                            {"attribute", Value::None()}}));
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  std::vector<Value> keys;
  for (const Value& item : items) {
    STRATA_ASSIGN_OR_RETURN(Value key, KeyOf(item, a[2], !Truthy(a[1]), true));
    keys.push_back(std::move(key));
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                          SortedBy(std::move(items), std::move(keys), Truthy(a[0])));
  return Value::MakeList(std::move(sorted));
}

StatusOr<Value> Unique(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("unique", args,
                       {{"case_sensitive", Value::Bool(false)}, {"attribute", Value::None()}}));
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const Value& item : items) {
    STRATA_ASSIGN_OR_RETURN(Value key, KeyOf(item, a[1], !Truthy(a[0])));
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); }))
      continue;
    seen.push_back(std::move(key));
    out.push_back(item);
  }
  return Value::MakeIterator(std::move(out));
}

StatusOr<Value> Items(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("items", args, {}).status());
  if (input.is_undefined()) return Value::MakeIterator({});
  if (!input.is_dict()) return TypeError("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, v] : input.dict().entries) out.push_back(Value::MakeTuple({k, v}));
  return Value::MakeIterator(std::move(out));
}

StatusOr<Value> DictSort(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("dictsort", args,
                                           {{"case_sensitive", Value::Bool(false)},
                                            {"by", Value::Str("key")},
                                            {"reverse", Value::Bool(false)}}));
  std::string by = ToStr(a[1]);
  if (by != "key" && by != "value")
    return TypeError("You can only sort by either \"key\" or \"value\"");
  if (!input.is_dict())
    return TypeError("'" + std::string(TypeName(input)) + "' object has no attribute 'items'");
  std::vector<Value> items;
  std::vector<Value> keys;
  for (const auto& [k, v] : input.dict().entries) {
    items.push_back(Value::MakeTuple({k, v}));
    const Value& key = by == "key" ? k : v;
    keys.push_back(!Truthy(a[0]) && key.is_string() ? Value::Str(ToLower(key.str())) : key);
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> sorted,
                          SortedBy(std::move(items), std::move(keys), Truthy(a[2])));
  return Value::MakeList(std::move(sorted));
}

// Moves the keyword `name` out of `args`, if present.
std::optional<Value> TakeKeyword(CallArgs& args, std::string_view name) {
  for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it) {
    if (it->first == name) {
      Value v = std::move(it->second);
      args.keyword.erase(it);
      return v;
    }
  }
  return std::nullopt;
}

StatusOr<Value> Map(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  std::vector<Value> out;
  if (args.positional.empty()) {
    std::optional<Value> attribute = TakeKeyword(args, "attribute");
    if (!attribute) return TypeError("map requires a filter argument");
    Value fallback = TakeKeyword(args, "default").value_or(Value::None());
    if (!args.keyword.empty())
      return TypeError("Unexpected keyword argument '" + args.keyword[0].first + "'");
    for (const Value& item : items) {
      STRATA_ASSIGN_OR_RETURN(Value v, KeyOf(item, *attribute, false));
      out.push_back(v.is_undefined() && !fallback.is_none() ? fallback : v);
    }
    return Value::MakeIterator(std::move(out));
  }
  std::string filter = ToStr(args.positional[0]);
  if (!HasFilter(filter)) return TypeError("no filter named '" + filter + "'");
  args.positional.erase(args.positional.begin());
  for (const Value& item : items) {
    CallArgs call = args;
    STRATA_ASSIGN_OR_RETURN(Value v, ApplyFilter(filter, item, call));
    out.push_back(std::move(v));
  }
  return Value::MakeIterator(std::move(out));
}

// select/reject/selectattr/rejectattr: keep the items whose (attribute's) test result is
// `keep`; without a test name, the truth value is the test.
StatusOr<Value> SelectOrReject(const Value& input, CallArgs& args, bool keep, bool by_attribute) {
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) return TypeError("Missing parameter for attribute name");
    attribute = args.positional[0];
    args.positional.erase(args.positional.begin());
  }
  std::optional<std::string> test;
  if (!args.positional.empty()) {
    test = ToStr(args.positional[0]);
    args.positional.erase(args.positional.begin());
    if (!HasTest(*test)) return TypeError("no test named '" + *test + "'");
  }
  std::vector<Value> out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      STRATA_ASSIGN_OR_RETURN(subject, KeyOf(item, attribute, false));
    }
    bool result = Truthy(subject);
    if (test) {
      CallArgs call = args;
      STRATA_ASSIGN_OR_RETURN(result, ApplyTest(*test, subject, call));
    }
    if (result == keep) out.push_back(item);
  }
  return Value::MakeIterator(std::move(out));
}

StatusOr<Value> MinOrMax(const Value& input, CallArgs& args, bool max) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs(max ? "max" : "min", args,
                       {{"case_sensitive", Value::Bool(false)}, {"attribute", Value::None()}}));
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  STRATA_ASSIGN_OR_RETURN(Value best_key, KeyOf(items[0], a[1], !Truthy(a[0])));
  for (size_t i = 1; i < items.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(Value key, KeyOf(items[i], a[1], !Truthy(a[0])));
    STRATA_ASSIGN_OR_RETURN(int c, Compare(key, best_key));
    if (max ? c > 0 : c < 0) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

StatusOr<Value> Sum(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("sum", args, {{"attribute", Value::None()}, {"start", Value::Int(0)}}));
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(input));
  Value total = a[1];
  for (const Value& item : items) {
    Value term = item;
    if (!a[0].is_none()) {
      STRATA_ASSIGN_OR_RETURN(term, KeyOf(item, a[0], false));
    }
    STRATA_ASSIGN_OR_RETURN(total, ApplyBinary(BinaryOp::kAdd, total, term));
  }
  return total;
}

}  // namespace

void AddCollectionFilters(FilterTable& t) {
  t["length"] = Length;
  t["count"] = Length;
  t["first"] = [](const Value& v, CallArgs& a) { return FirstOrLast(v, a, true); };
  t["last"] = [](const Value& v, CallArgs& a) { return FirstOrLast(v, a, false); };
  t["join"] = JoinFilter;
  t["default"] = Default;
  t["d"] = Default;
  t["list"] = ListFilter;
  t["reverse"] = Reverse;
  t["sort"] = Sort;
  t["unique"] = Unique;
  t["items"] = Items;
  t["dictsort"] = DictSort;
  t["map"] = Map;
  t["select"] = [](const Value& v, CallArgs& a) { return SelectOrReject(v, a, true, false); };
  t["reject"] = [](const Value& v, CallArgs& a) { return SelectOrReject(v, a, false, false); };
  t["selectattr"] = [](const Value& v, CallArgs& a) { return SelectOrReject(v, a, true, true); };
  t["rejectattr"] = [](const Value& v, CallArgs& a) { return SelectOrReject(v, a, false, true); };
  t["min"] = [](const Value& v, CallArgs& a) { return MinOrMax(v, a, false); };
  t["max"] = [](const Value& v, CallArgs& a) { return MinOrMax(v, a, true); };
  t["sum"] = Sum;
}

}  // namespace strata::jinja
