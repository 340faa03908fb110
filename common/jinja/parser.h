// The Jinja parser: tokens to a statement list, with jinja2's grammar and operator
// precedence (conditional, or, and, not, comparisons and `in`, + -, ~, * / // %, **, unary
// - +, then postfix `.attr`, `[index]`, `[a:b:c]`, calls, `| filter` and `is test`).
// Statements: if/elif/else, for (with `if` filter and else), set (plain, namespace attribute,
// block), macro, break/continue, with, filter, generation, print. Unknown filters and tests
// are errors here, as they are when jinja2 compiles a template.
// Thread-safety: pure function.
#pragma once

#include <vector>

#include "common/jinja/ast.h"
#include "common/jinja/lexer.h"
#include "common/util/status.h"

namespace strata::jinja {

StatusOr<Body> Parse(const std::vector<Token>& tokens, const SourceMap& map);

}  // namespace strata::jinja
