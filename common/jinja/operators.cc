// Python operator semantics; see operators.h.
#include "common/jinja/operators.h"

#include <cmath>
#include <string>

#include "common/jinja/limits.h"

namespace strata::jinja {
namespace {

std::string Quoted(const Value& v) { return "'" + std::string(TypeName(v)) + "'"; }

Status Unsupported(std::string_view op, const Value& a, const Value& b) {
  return TypeError("unsupported operand type(s) for " + std::string(op) + ": " + Quoted(a) +
                   " and " + Quoted(b));
}

Status Overflow() { return TypeError("integer result too large (ints are limited to 64 bits)"); }

StatusOr<Value> Repeat(const Value& seq, int64_t times) {
  if (times <= 0)
    return seq.is_string()  ? Value::Str("")
           : seq.is_tuple() ? Value::MakeTuple({})
                            : Value::MakeList({});
  if (seq.is_string()) {
    if (seq.str().size() * static_cast<uint64_t>(times) > kMaxStringBytes ||
        static_cast<uint64_t>(times) > kMaxStringBytes) {
      return ResourceExhausted("string repetition result is larger than 64 MiB");
    }
    std::string out;
    out.reserve(seq.str().size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return Value::Str(std::move(out));
  }
  const auto& items = seq.list().items;
  if (static_cast<uint64_t>(times) > kMaxListItems ||
      items.size() * static_cast<uint64_t>(times) > kMaxListItems) {
    return ResourceExhausted("list repetition result is too long");
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? Value::MakeTuple(std::move(out)) : Value::MakeList(std::move(out));
}

StatusOr<Value> Add(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    int64_t r;
    if (__builtin_add_overflow(a.integer(), b.integer(), &r)) return Overflow();
    return Value::Int(r);
  }
  if (a.is_number() && b.is_number()) return Value::Float(a.number() + b.number());
  if (a.is_string() && b.is_string()) {
    if (a.str().size() + b.str().size() > kMaxStringBytes) {
      return ResourceExhausted("string concatenation result is larger than 64 MiB");
    }
    return Value::Str(a.str() + b.str());
  }
  if (a.is_sequence() && b.is_sequence() && a.is_tuple() == b.is_tuple()) {
    if (a.list().items.size() + b.list().items.size() > kMaxListItems) {
      return ResourceExhausted("list concatenation result is too long");
    }
    std::vector<Value> items = a.list().items;
    items.insert(items.end(), b.list().items.begin(), b.list().items.end());
    return a.is_tuple() ? Value::MakeTuple(std::move(items)) : Value::MakeList(std::move(items));
  }
  if (a.is_string() || a.is_sequence()) {
    return TypeError("can only concatenate " + std::string(TypeName(a)) + " (not \"" +
                     std::string(TypeName(b)) + "\") to " + std::string(TypeName(a)));
  }
  return Unsupported("+", a, b);
}

StatusOr<Value> Multiply(const Value& a, const Value& b) {
  if (a.is_integral() && b.is_integral()) {
    int64_t r;
    if (__builtin_mul_overflow(a.integer(), b.integer(), &r)) return Overflow();
    return Value::Int(r);
  }
  if (a.is_number() && b.is_number()) return Value::Float(a.number() * b.number());
  if ((a.is_string() || a.is_sequence()) && b.is_integral()) return Repeat(a, b.integer());
  if (a.is_integral() && (b.is_string() || b.is_sequence())) return Repeat(b, a.integer());
  return Unsupported("*", a, b);
}

// Python's float floor division and modulo (the result takes the sign of the divisor).
void FloatDivMod(double x, double y, double* div, double* mod) {
  double m = std::fmod(x, y);
  double d = (x - m) / y;
  if (m != 0) {
    if ((y < 0) != (m < 0)) {
      m += y;
      d -= 1.0;
    }
  } else {
    m = std::copysign(0.0, y);
  }
  double floor_d = 0;
  if (d != 0) {
    floor_d = std::floor(d);
    if (d - floor_d > 0.5) floor_d += 1.0;
  } else {
    floor_d = std::copysign(0.0, x / y);
  }
  *div = floor_d;
  *mod = m;
}

StatusOr<Value> DivMod(BinaryOp op, const Value& a, const Value& b) {
  bool floor_div = op == BinaryOp::kFloorDiv;
  if (a.is_string() && !floor_div)
    return TypeError("string formatting with '%' is not supported; use ~ or format filters");
  std::string_view symbol = floor_div ? "//" : "%";
  if (!a.is_number() || !b.is_number()) return Unsupported(symbol, a, b);
  if (a.is_integral() && b.is_integral()) {
    int64_t x = a.integer();
    int64_t y = b.integer();
    if (y == 0) return TypeError(floor_div ? "integer division by zero" : "integer modulo by zero");
    if (x == INT64_MIN && y == -1) return floor_div ? StatusOr<Value>(Overflow()) : Value::Int(0);
    int64_t q = x / y;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) {
      r += y;
      q -= 1;
    }
    return Value::Int(floor_div ? q : r);
  }
  if (b.number() == 0)
    return TypeError(floor_div ? "float floor division by zero" : "float modulo");
  double div;
  double mod;
  FloatDivMod(a.number(), b.number(), &div, &mod);
  return Value::Float(floor_div ? div : mod);
}

StatusOr<Value> Power(const Value& a, const Value& b) {
  if (!a.is_number() || !b.is_number()) return Unsupported("** or pow()", a, b);
  if (a.is_integral() && b.is_integral() && b.integer() >= 0) {
    int64_t base = a.integer();
    int64_t exp = b.integer();
    int64_t result = 1;
    while (exp > 0) {
      if ((exp & 1) && __builtin_mul_overflow(result, base, &result)) return Overflow();
      exp >>= 1;
      if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
    }
    return Value::Int(result);
  }
  double x = a.number();
  double y = b.number();
  if (x == 0 && y < 0) return TypeError("0.0 cannot be raised to a negative power");
  if (x < 0 && y != std::floor(y))
    return TypeError("a negative number cannot be raised to a fractional power");
  double r = std::pow(x, y);
  if (std::isinf(r) && std::isfinite(x) && std::isfinite(y))
    return TypeError("numerical result out of range");
  return Value::Float(r);
}

}  // namespace

StatusOr<Value> ApplyBinary(BinaryOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  switch (op) {
    case BinaryOp::kAdd: return Add(a, b);
    case BinaryOp::kSub:
      if (a.is_integral() && b.is_integral()) {
        int64_t r;
        if (__builtin_sub_overflow(a.integer(), b.integer(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (a.is_number() && b.is_number()) return Value::Float(a.number() - b.number());
      return Unsupported("-", a, b);
    case BinaryOp::kMul: return Multiply(a, b);
    case BinaryOp::kDiv:
      if (!a.is_number() || !b.is_number()) return Unsupported("/", a, b);
      if (b.number() == 0) return TypeError("division by zero");
      return Value::Float(a.number() / b.number());
    case BinaryOp::kFloorDiv:
    case BinaryOp::kMod: return DivMod(op, a, b);
    case BinaryOp::kPow: return Power(a, b);
    case BinaryOp::kAnd:
    case BinaryOp::kOr: break;
  }
  return TypeError("unsupported operator");
}

StatusOr<Value> ApplyUnary(UnaryOp op, const Value& v) {
  if (op == UnaryOp::kNot) return Value::Bool(!Truthy(v));
  if (v.is_undefined()) return UndefinedError(v);
  if (v.is_integral()) {
    if (op == UnaryOp::kPos) return Value::Int(v.integer());
    if (v.integer() == INT64_MIN) return Overflow();
    return Value::Int(-v.integer());
  }
  if (v.is_float()) return Value::Float(op == UnaryOp::kNeg ? -v.float_value() : v.float_value());
  return TypeError(std::string("bad operand type for unary ") + (op == UnaryOp::kNeg ? "-" : "+") +
                   ": " + Quoted(v));
}

StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        return TypeError("'in <string>' requires string as left operand, not " +
                         std::string(TypeName(item)));
      }
      return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.list().items) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if ((item.is_list() && !item.is_tuple()) || item.is_dict() || item.is_namespace()) {
        return TypeError("unhashable type: " + Quoted(item));
      }
      return container.dict().Find(item) != nullptr;
    default: return TypeError("argument of type " + Quoted(container) + " is not iterable");
  }
}

StatusOr<bool> ApplyCompare(CompareOp op, const Value& a, const Value& b) {
  switch (op) {
    case CompareOp::kEq: return Equals(a, b);
    case CompareOp::kNe: return !Equals(a, b);
    case CompareOp::kIn: return Contains(b, a);
    case CompareOp::kNotIn: {
      STRATA_ASSIGN_OR_RETURN(bool in, Contains(b, a));
      return !in;
    }
    default: break;
  }
  STRATA_ASSIGN_OR_RETURN(int c, Compare(a, b));
  switch (op) {
    case CompareOp::kLt: return c < 0;
    case CompareOp::kLe: return c <= 0;
    case CompareOp::kGt: return c > 0;
    default: return c >= 0;
  }
}

}  // namespace strata::jinja
