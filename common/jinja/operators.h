// Python semantics of the expression operators: arithmetic (+ - * / // % ** and unary - +)
// on ints, floats and bools, str/list concatenation and repetition, comparisons and `in`.
// ints are int64: results that would need a big int are an error. Using an undefined value
// is the error jinja2 raises. Thread-safety: pure functions.
#pragma once

#include "common/jinja/ast.h"
#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

// One of + - * / // % ** (not `and`/`or`, which short-circuit in the renderer).
StatusOr<Value> ApplyBinary(BinaryOp op, const Value& a, const Value& b);
StatusOr<Value> ApplyUnary(UnaryOp op, const Value& v);
StatusOr<bool> ApplyCompare(CompareOp op, const Value& a, const Value& b);
// Python `item in container`.
StatusOr<bool> Contains(const Value& container, const Value& item);

}  // namespace strata::jinja
