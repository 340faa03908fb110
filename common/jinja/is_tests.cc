// jinja2's built-in tests; see is_tests.h.
#include "common/jinja/is_tests.h"

#include <string>
#include <unordered_map>

#include "common/jinja/args.h"
#include "common/jinja/ast.h"
#include "common/jinja/filters.h"
#include "common/jinja/operators.h"
#include "common/jinja/pystring.h"

namespace strata::jinja {
namespace {

using TestFn = StatusOr<bool> (*)(const Value& v, CallArgs& args);

template <bool (*Pred)(const Value&)>
StatusOr<bool> Unary(const Value& v, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("test", args, {}).status());
  return Pred(v);
}

template <CompareOp Op>
StatusOr<bool> Comparison(const Value& v, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("test", args, {{"other", std::nullopt}}));
  return ApplyCompare(Op, v, a[0]);
}

// value % divisor == 0 (or == 1 for odd), with Python's % on ints and floats.
StatusOr<bool> Remainder(const Value& v, const Value& divisor, int64_t expected) {
  STRATA_ASSIGN_OR_RETURN(Value r, ApplyBinary(BinaryOp::kMod, v, divisor));
  return Equals(r, Value::Int(expected));
}

StatusOr<bool> Odd(const Value& v, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("odd", args, {}).status());
  return Remainder(v, Value::Int(2), 1);
}

StatusOr<bool> Even(const Value& v, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("even", args, {}).status());
  return Remainder(v, Value::Int(2), 0);
}

StatusOr<bool> DivisibleBy(const Value& v, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("divisibleby", args, {{"num", std::nullopt}}));
  return Remainder(v, a[0], 0);
}

StatusOr<bool> SameAs(const Value& v, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("sameas", args, {{"other", std::nullopt}}));
  return v.SameAs(a[0]);
}

StatusOr<bool> In(const Value& v, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("in", args, {{"seq", std::nullopt}}));
  return Contains(a[0], v);
}

// str.islower()/isupper(): some cased character, and none of the other case.
template <bool Lower>
StatusOr<bool> CaseTest(const Value& v, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("test", args, {}).status());
  std::string s = ToStr(v);
  return HasCased(s) && (Lower ? ToLower(s) : ToUpper(s)) == s;
}

StatusOr<bool> IsFilterName(const Value& v, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("filter", args, {}).status());
  return v.is_string() && HasFilter(v.str());
}

StatusOr<bool> IsTestName(const Value& v, CallArgs& args);

bool IsDefined(const Value& v) { return !v.is_undefined(); }
bool IsUndefined(const Value& v) { return v.is_undefined(); }
bool IsNone(const Value& v) { return v.is_none(); }
bool IsBoolean(const Value& v) { return v.is_bool(); }
bool IsTrue(const Value& v) { return v.is_bool() && v.boolean(); }
bool IsFalse(const Value& v) { return v.is_bool() && !v.boolean(); }
bool IsInteger(const Value& v) { return v.is_int(); }
bool IsFloat(const Value& v) { return v.is_float(); }
bool IsNumber(const Value& v) { return v.is_number(); }
bool IsString(const Value& v) { return v.is_string(); }
bool IsMapping(const Value& v) { return v.is_dict(); }
// Undefined is iterable (empty), has a length and an item protocol, and is callable (it
// raises when called), so Python's duck-typed tests say yes.
bool IsIterable(const Value& v) {
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}
bool IsSequence(const Value& v) { return IsIterable(v) && !v.is_iterator(); }
bool IsCallable(const Value& v) { return v.is_function() || v.is_undefined(); }

const std::unordered_map<std::string_view, TestFn>& Table() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", Unary<IsDefined>},
      {"undefined", Unary<IsUndefined>},
      {"none", Unary<IsNone>},
      {"boolean", Unary<IsBoolean>},
      {"true", Unary<IsTrue>},
      {"false", Unary<IsFalse>},
      {"integer", Unary<IsInteger>},
      {"float", Unary<IsFloat>},
      {"number", Unary<IsNumber>},
      {"string", Unary<IsString>},
      {"mapping", Unary<IsMapping>},
      {"iterable", Unary<IsIterable>},
      {"sequence", Unary<IsSequence>},
      {"callable", Unary<IsCallable>},
      {"sameas", SameAs},
      {"in", In},
      {"odd", Odd},
      {"even", Even},
      {"divisibleby", DivisibleBy},
      {"lower", CaseTest<true>},
      {"upper", CaseTest<false>},
      {"filter", IsFilterName},
      {"test", IsTestName},
      {"eq", Comparison<CompareOp::kEq>},
      {"equalto", Comparison<CompareOp::kEq>},
      {"==", Comparison<CompareOp::kEq>},
      {"ne", Comparison<CompareOp::kNe>},
      {"!=", Comparison<CompareOp::kNe>},
      {"lt", Comparison<CompareOp::kLt>},
      {"lessthan", Comparison<CompareOp::kLt>},
      {"<", Comparison<CompareOp::kLt>},
      {"le", Comparison<CompareOp::kLe>},
      {"<=", Comparison<CompareOp::kLe>},
      {"gt", Comparison<CompareOp::kGt>},
      {"greaterthan", Comparison<CompareOp::kGt>},
      {">", Comparison<CompareOp::kGt>},
      {"ge", Comparison<CompareOp::kGe>},
      {">=", Comparison<CompareOp::kGe>},
  };
  return table;
}

StatusOr<bool> IsTestName(const Value& v, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("test", args, {}).status());
  return v.is_string() && Table().contains(v.str());
}

}  // namespace

bool HasTest(std::string_view name) { return Table().contains(name); }

StatusOr<bool> ApplyTest(std::string_view name, const Value& value, CallArgs& args) {
  auto it = Table().find(name);
  if (it == Table().end()) return TypeError("no test named '" + std::string(name) + "'");
  return it->second(value, args);
}

}  // namespace strata::jinja
