// jinja2's compile-time frame analysis, which decides what a variable reads before the
// template assigns it. Each scope (the template, a for-loop body, a macro, a with/generation,
// set-block or filter block) is a frame. A name whose first use in a frame is an assignment
// (unconditional: assignments in only some if-branches do not count), and that no enclosing
// frame uses, is the frame's own variable from the start: until assigned it is undefined, even
// where the context or an outer scope has that name. E.g. in
//   {% for m in messages %}{{ x }}{% endfor %}{% set x = 1 %}
// the loop prints nothing even when the context defines x. AnalyzeFrames records these names
// in the AST (the FreshNames fields) and returns the template frame's.
// Thread-safety: runs once at parse time on a tree no one else sees yet.
#pragma once

#include "common/jinja/ast.h"

namespace strata::jinja {

FreshNames AnalyzeFrames(Body& template_body);

}  // namespace strata::jinja
