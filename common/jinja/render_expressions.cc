// Expression evaluation; see renderer.h.
#include <string>

#include "common/jinja/attributes.h"
#include "common/jinja/filters.h"
#include "common/jinja/is_tests.h"
#include "common/jinja/limits.h"
#include "common/jinja/operators.h"
#include "common/jinja/renderer.h"

namespace strata::jinja {

StatusOr<Value> Renderer::Eval(const Expr& expr, Scope& scope) {
  Nest nest(*this);
  Status depth = CheckDepth();
  StatusOr<Value> result = depth.ok() ? EvalExpr(expr, scope) : StatusOr<Value>(depth);
  if (!result.ok()) return Locate(result.status(), expr.offset);
  return result;
}

StatusOr<CallArgs> Renderer::EvalArgs(const Arguments& args, Scope& scope) {
  CallArgs out;
  for (const ExprPtr& e : args.positional) {
    STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e, scope));
    out.positional.push_back(std::move(v));
  }
  for (const auto& [name, e] : args.keyword) {
    STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e, scope));
    out.keyword.emplace_back(name, std::move(v));
  }
  return out;
}

StatusOr<Value> Renderer::CallFilter(const FilterExpr& expr, const Value& input, Scope& scope) {
  STRATA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(expr.args, scope));
  StatusOr<Value> result = ApplyFilter(expr.name, input, args);
  if (!result.ok())
    return Status(result.status().code(), expr.name + ": " + result.status().message());
  return result;
}

StatusOr<Value> Renderer::ApplyFilterChain(const Expr& chain, Value input, Scope& scope) {
  const auto& filter = static_cast<const FilterExpr&>(chain);
  if (filter.operand) {
    STRATA_ASSIGN_OR_RETURN(input, ApplyFilterChain(*filter.operand, std::move(input), scope));
  }
  StatusOr<Value> result = CallFilter(filter, input, scope);
  if (!result.ok()) return Locate(result.status(), filter.offset);
  return result;
}

StatusOr<Value> Renderer::EvalCompare(const CompareExpr& expr, Scope& scope) {
  STRATA_ASSIGN_OR_RETURN(Value left, Eval(*expr.first, scope));
  for (const auto& [op, operand] : expr.rest) {
    STRATA_ASSIGN_OR_RETURN(Value right, Eval(*operand, scope));
    STRATA_ASSIGN_OR_RETURN(bool holds, ApplyCompare(op, left, right));
    if (!holds) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

StatusOr<Value> Renderer::EvalCollection(const Expr& expr, Scope& scope) {
  if (expr.kind == Expr::Kind::kList) {
    const auto& e = static_cast<const ListExpr&>(expr);
    std::vector<Value> items;
    items.reserve(e.items.size());
    for (const ExprPtr& item : e.items) {
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*item, scope));
      items.push_back(std::move(v));
    }
    return e.is_tuple ? Value::MakeTuple(std::move(items)) : Value::MakeList(std::move(items));
  }
  const auto& e = static_cast<const DictExpr&>(expr);
  Dict dict;
  for (const auto& [key_expr, value_expr] : e.items) {
    STRATA_ASSIGN_OR_RETURN(Value key, Eval(*key_expr, scope));
    if ((key.is_list() && !key.is_tuple()) || key.is_dict() || key.is_namespace()) {
      return TypeError("unhashable type: '" + std::string(TypeName(key)) + "'");
    }
    STRATA_ASSIGN_OR_RETURN(Value value, Eval(*value_expr, scope));
    dict.Set(std::move(key), std::move(value));
  }
  return Value::MakeDict(std::move(dict));
}

StatusOr<Value> Renderer::EvalExpr(const Expr& expr, Scope& scope) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral: return static_cast<const LiteralExpr&>(expr).value;
    case Expr::Kind::kName: {
      const std::string& name = static_cast<const NameExpr&>(expr).name;
      const Value* v = scope.Find(name);
      return v ? *v : Value::Undefined("'" + name + "' is undefined");
    }
    case Expr::Kind::kList:
    case Expr::Kind::kDict: return EvalCollection(expr, scope);
    case Expr::Kind::kAttr: {
      const auto& e = static_cast<const AttrExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value obj, Eval(*e.object, scope));
      return GetAttr(obj, e.name);
    }
    case Expr::Kind::kItem: {
      const auto& e = static_cast<const ItemExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value obj, Eval(*e.object, scope));
      STRATA_ASSIGN_OR_RETURN(Value key, Eval(*e.index, scope));
      return GetItem(obj, key);
    }
    case Expr::Kind::kSlice: {
      const auto& e = static_cast<const SliceExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value obj, Eval(*e.object, scope));
      Value bounds[3] = {Value::None(), Value::None(), Value::None()};
      const ExprPtr* parts[3] = {&e.start, &e.stop, &e.step};
      for (int i = 0; i < 3; ++i) {
        if (*parts[i]) {
          STRATA_ASSIGN_OR_RETURN(bounds[i], Eval(**parts[i], scope));
        }
      }
      return GetSlice(obj, bounds[0], bounds[1], bounds[2]);
    }
    case Expr::Kind::kCall: {
      const auto& e = static_cast<const CallExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value callee, Eval(*e.callee, scope));
      if (callee.is_undefined()) return UndefinedError(callee);
      if (!callee.is_function())
        return TypeError("'" + std::string(TypeName(callee)) + "' object is not callable");
      STRATA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
      return callee.function().fn(args);
    }
    case Expr::Kind::kFilter: {
      const auto& e = static_cast<const FilterExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value input, Eval(*e.operand, scope));
      return CallFilter(e, input, scope);
    }
    case Expr::Kind::kTest: {
      const auto& e = static_cast<const TestExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e.operand, scope));
      STRATA_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e.args, scope));
      STRATA_ASSIGN_OR_RETURN(bool result, ApplyTest(e.name, v, args));
      return Value::Bool(result != e.negated);
    }
    case Expr::Kind::kUnary: {
      const auto& e = static_cast<const UnaryExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*e.operand, scope));
      return ApplyUnary(e.op, v);
    }
    case Expr::Kind::kBinary: {
      const auto& e = static_cast<const BinaryExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value left, Eval(*e.lhs, scope));
      if (e.op == BinaryOp::kAnd && !Truthy(left)) return left;
      if (e.op == BinaryOp::kOr && Truthy(left)) return left;
      STRATA_ASSIGN_OR_RETURN(Value right, Eval(*e.rhs, scope));
      if (e.op == BinaryOp::kAnd || e.op == BinaryOp::kOr) return right;
      return ApplyBinary(e.op, left, right);
    }
    case Expr::Kind::kCompare: return EvalCompare(static_cast<const CompareExpr&>(expr), scope);
    case Expr::Kind::kConcat: {
      std::string out;
      for (const ExprPtr& part : static_cast<const ConcatExpr&>(expr).parts) {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*part, scope));
        out += ToStr(v);
        if (out.size() > kMaxStringBytes)
          return ResourceExhausted("string concatenation result is larger than 64 MiB");
      }
      return Value::Str(std::move(out));
    }
    case Expr::Kind::kCond: {
      const auto& e = static_cast<const CondExpr&>(expr);
      STRATA_ASSIGN_OR_RETURN(Value cond, Eval(*e.cond, scope));
      if (Truthy(cond)) return Eval(*e.then, scope);
      if (e.otherwise) return Eval(*e.otherwise, scope);
      return Value::Undefined("the inline if-expression at " + map_.Where(expr.offset) +
                              " evaluated to false and no else section was defined.");
    }
  }
  return Internal("unknown expression");
}

}  // namespace strata::jinja
