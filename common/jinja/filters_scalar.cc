// Text and number filters: trim, upper, lower, capitalize, title, replace, indent, center,
// wordcount, string, safe, tojson (transformers' json.dumps version), int, float, round, abs.
// Thread-safety: pure functions.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/jinja/args.h"
#include "common/jinja/filters.h"
#include "common/jinja/json.h"
#include "common/jinja/limits.h"
#include "common/jinja/pystring.h"

namespace strata::jinja {
namespace {

StatusOr<Value> Trim(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("trim", args, {{"chars", Value::None()}}));
  std::string s = ToStr(input);
  if (a[0].is_none()) return Value::Str(std::string(Strip(s, StripSide::kBoth)));
  return Value::Str(std::string(StripChars(s, ToStr(a[0]), StripSide::kBoth)));
}

template <std::string (*Fn)(std::string_view)>
StatusOr<Value> Transform(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("filter", args, {}).status());
  return Value::Str(Fn(ToStr(input)));
}

std::string Identity(std::string_view s) { return std::string(s); }

// jinja2's indent works on the str itself (no conversion).
Status RequireString(const Value& input, std::string_view filter) {
  if (input.is_string()) return OkStatus();
  if (input.is_undefined()) return UndefinedError(input);
  return TypeError(std::string(filter) + "() needs a string, not '" + std::string(TypeName(input)) +
                   "'");
}

// jinja2's title filter: words start after `-`, whitespace and opening brackets.
std::string JinjaTitle(std::string_view s) {
  std::string out;
  bool word_start = true;
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, pos);
    std::string_view ch = s.substr(start, pos - start);
    out += word_start ? ToUpper(ch) : ToLower(ch);
    word_start = IsPySpace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
  }
  return out;
}

StatusOr<Value> ReplaceFilter(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("replace", args,
                       {{"old", std::nullopt}, {"new", std::nullopt}, {"count", Value::None()}}));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> count, OptionalInt("replace", "count", a[2]));
  std::string out = Replace(ToStr(input), ToStr(a[0]), ToStr(a[1]), count.value_or(-1));
  if (out.size() > kMaxStringBytes)
    return ResourceExhausted("replace result is larger than 64 MiB");
  return Value::Str(std::move(out));
}

StatusOr<Value> Indent(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("indent", args,
                                           {{"width", Value::Int(4)},
                                            {"first", Value::Bool(false)},
                                            {"blank", Value::Bool(false)}}));
  STRATA_RETURN_IF_ERROR(RequireString(input, "indent"));
  std::string indentation;
  if (a[0].is_string()) {
    indentation = a[0].str();
  } else {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> width, OptionalInt("indent", "width", a[0]));
    if (width.value_or(0) > 1024) return TypeError("indent(): width is too large");
    indentation.assign(static_cast<size_t>(std::max<int64_t>(0, width.value_or(0))), ' ');
  }
  std::vector<std::string> lines = SplitLines(ToStr(input) + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    bool indent_line = i > 0 && (Truthy(a[2]) || !lines[i].empty());
    if (indent_line) out += indentation;
    out += lines[i];
  }
  if (Truthy(a[1])) out = indentation + out;
  if (out.size() > kMaxStringBytes) return ResourceExhausted("indent result is larger than 64 MiB");
  return Value::Str(std::move(out));
}

StatusOr<Value> Center(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("center", args, {{"width", Value::Int(80)}}));
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> width_arg, OptionalInt("center", "width", a[0]));
  int64_t width = width_arg.value_or(80);
  if (width > static_cast<int64_t>(kMaxStringBytes))
    return ResourceExhausted("center(): width is too large");
  std::string s = ToStr(input);
  int64_t len = static_cast<int64_t>(CodePointCount(s));
  if (width <= len) return Value::Str(std::move(s));
  int64_t margin = width - len;
  int64_t left = margin / 2 + (margin & width & 1);  // CPython's str.center rounding
  return Value::Str(std::string(static_cast<size_t>(left), ' ') + s +
                    std::string(static_cast<size_t>(margin - left), ' '));
}

StatusOr<Value> WordCount(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("wordcount", args, {}).status());
  std::string s = ToStr(input);
  int64_t words = 0;
  bool in_word = false;
  for (size_t pos = 0; pos < s.size();) {
    char32_t cp = DecodeUtf8(s, pos);
    bool word_char = IsWordChar(cp);
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::Int(words);
}

StatusOr<Value> ToJson(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("tojson", args,
                                           {{"ensure_ascii", Value::Bool(false)},
                                            {"indent", Value::None()},
                                            {"separators", Value::None()},
                                            {"sort_keys", Value::Bool(false)}}));
  JsonDumpOptions options;
  options.ensure_ascii = Truthy(a[0]);
  if (a[1].is_string()) {
    options.indent = a[1].str();
  } else if (a[1].is_integral()) {
    options.indent =
        std::string(static_cast<size_t>(std::clamp<int64_t>(a[1].integer(), 0, 1024)), ' ');
  } else if (!a[1].is_none()) {
    return TypeError("tojson(): indent must be an integer, a string or None");
  }
  if (!a[2].is_none()) {
    if (!a[2].is_sequence() || a[2].list().items.size() != 2 || !a[2].list().items[0].is_string() ||
        !a[2].list().items[1].is_string()) {
      return TypeError("tojson(): separators must be a pair of strings");
    }
    options.separators = std::make_pair(a[2].list().items[0].str(), a[2].list().items[1].str());
  }
  options.sort_keys = Truthy(a[3]);
  STRATA_ASSIGN_OR_RETURN(std::string json, DumpJson(input, options));
  return Value::Str(std::move(json));
}

// int(float) in Python; infinity and out-of-range values cannot be represented.
StatusOr<std::optional<int64_t>> Truncate(double d) {
  if (std::isnan(d)) return std::optional<int64_t>();
  if (std::isinf(d)) return TypeError("cannot convert float infinity to integer");
  if (std::fabs(d) >= 9.2233720368547758e18)
    return TypeError("integer result too large (ints are limited to 64 bits)");
  return std::optional<int64_t>(static_cast<int64_t>(d));
}

StatusOr<Value> IntFilter(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a, BindArgs("int", args, {{"default", Value::Int(0)}, {"base", Value::Int(10)}}));
  if (input.is_undefined()) return UndefinedError(input);
  if (input.is_integral()) return Value::Int(input.integer());
  if (input.is_float()) {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> i, Truncate(input.float_value()));
    return i ? Value::Int(*i) : a[0];
  }
  if (!input.is_string()) return a[0];
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> base, OptionalInt("int", "base", a[1]));
  if (base.value_or(10) == 10) {
    if (std::optional<int64_t> i = ParseInt(input.str())) return Value::Int(*i);
  } else {
    std::string digits(Strip(input.str(), StripSide::kBoth));
    char* end = nullptr;
    long long parsed = std::strtoll(digits.c_str(), &end, static_cast<int>(*base));
    if (!digits.empty() && end == digits.c_str() + digits.size()) return Value::Int(parsed);
  }
  if (std::optional<double> d = ParseFloat(input.str())) {
    STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> i, Truncate(*d));
    if (i) return Value::Int(*i);
  }
  return a[0];
}

StatusOr<Value> FloatFilter(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(auto a, BindArgs("float", args, {{"default", Value::Float(0.0)}}));
  if (input.is_undefined()) return UndefinedError(input);
  if (input.is_number()) return Value::Float(input.number());
  if (input.is_string()) {
    if (std::optional<double> d = ParseFloat(input.str())) return Value::Float(*d);
  }
  return a[0];
}

// Python's round(x, n) for floats: correctly rounded to n decimals, ties to even.
double RoundFloat(double x, int64_t precision) {
  if (!std::isfinite(x)) return x;
  if (precision == 0) return std::nearbyint(x);
  if (precision > 0) {
    if (precision > 320) return x;
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), x);
    return std::strtod(buf, nullptr);
  }
  double scale = std::pow(10.0, static_cast<double>(-precision));
  return std::nearbyint(x / scale) * scale;
}

StatusOr<Value> Round(const Value& input, CallArgs& args) {
  STRATA_ASSIGN_OR_RETURN(
      auto a,
      BindArgs("round", args, {{"precision", Value::Int(0)}, {"method", Value::Str("common")}}));
  std::string method = ToStr(a[1]);
  if (method != "common" && method != "ceil" && method != "floor") {
    return TypeError("method must be common, ceil or floor");
  }
  if (input.is_undefined()) return UndefinedError(input);
  if (!input.is_number())
    return TypeError("type " + std::string(TypeName(input)) + " doesn't define __round__ method");
  STRATA_ASSIGN_OR_RETURN(std::optional<int64_t> precision_arg,
                          OptionalInt("round", "precision", a[0]));
  int64_t precision = precision_arg.value_or(0);
  if (method == "common") {
    if (input.is_integral() && precision >= 0) return Value::Int(input.integer());
    if (input.is_integral())
      return Value::Int(static_cast<int64_t>(RoundFloat(input.number(), precision)));
    return Value::Float(RoundFloat(input.float_value(), precision));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double scaled = input.number() * scale;
  return Value::Float((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

StatusOr<Value> Abs(const Value& input, CallArgs& args) {
  STRATA_RETURN_IF_ERROR(BindArgs("abs", args, {}).status());
  if (input.is_integral()) {
    if (input.integer() == INT64_MIN)
      return TypeError("integer result too large (ints are limited to 64 bits)");
    return Value::Int(std::llabs(input.integer()));
  }
  if (input.is_float()) return Value::Float(std::fabs(input.float_value()));
  if (input.is_undefined()) return UndefinedError(input);
  return TypeError("bad operand type for abs(): '" + std::string(TypeName(input)) + "'");
}

}  // namespace

void AddScalarFilters(FilterTable& t) {
  t["trim"] = Trim;
  t["upper"] = Transform<ToUpper>;
  t["lower"] = Transform<ToLower>;
  t["capitalize"] = Transform<Capitalize>;
  t["title"] = Transform<JinjaTitle>;
  t["string"] = Transform<Identity>;
  t["safe"] = Transform<Identity>;
  t["replace"] = ReplaceFilter;
  t["indent"] = Indent;
  t["center"] = Center;
  t["wordcount"] = WordCount;
  t["tojson"] = ToJson;
  t["int"] = IntFilter;
  t["float"] = FloatFilter;
  t["round"] = Round;
  t["abs"] = Abs;
}

}  // namespace strata::jinja
