// The tree-walking renderer behind Template::Render: statements (render_statements.cc) and
// expressions (render_expressions.cc) with jinja2's scoping (a for-loop iteration, macro call,
// with/generation block, set-block or filter-block body is a new scope that starts with its
// FreshNames undefined; if-blocks are not; macros see the scope they were defined in),
// break/continue, and the limits of RenderOptions. An error is located once, at the innermost
// expression or statement it comes from. Thread-safety: one Renderer per render, one thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/jinja/ast.h"
#include "common/jinja/lexer.h"
#include "common/jinja/template.h"
#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

// Variables of one scope; lookups fall through to the parent. Scopes are shared so that a
// macro can keep (weakly) the scope it was defined in.
class Scope : public std::enable_shared_from_this<Scope> {
 public:
  static std::shared_ptr<Scope> Make(std::shared_ptr<Scope> parent);
  // A new scope under this one, with `fresh` set to undefined.
  std::shared_ptr<Scope> Child(const FreshNames& fresh);

  const Value* Find(std::string_view name) const;
  void Set(std::string name, Value value);

 private:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  std::shared_ptr<Scope> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

class Renderer {
 public:
  Renderer(const SourceMap& map, const RenderOptions& options) : map_(map), options_(options) {}

  StatusOr<std::string> Render(const Body& body, const FreshNames& fresh, const Context& context);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  // Counts nesting for RenderOptions::max_depth.
  class Nest {
   public:
    explicit Nest(Renderer& r) : r_(r) { ++r_.depth_; }
    ~Nest() { --r_.depth_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    Renderer& r_;
  };
  Status CheckDepth() const;

  // Prefixes "line L, column C: " unless the error already has its location.
  Status Locate(const Status& status, uint32_t offset);
  Status Append(std::string& out, std::string_view text) const;

  // Statements (render_statements.cc).
  Status ExecBody(const Body& body, Scope& scope, std::string& out);
  Status Exec(const Stmt& stmt, Scope& scope, std::string& out);
  Status ExecStmt(const Stmt& stmt, Scope& scope, std::string& out);
  Status ExecFor(const ForStmt& stmt, Scope& scope, std::string& out);
  Status Assign(const Target& target, const Value& value, Scope& scope);
  Value MakeLoopInfo(const std::vector<Value>& items, size_t index);
  Value MakeMacro(const MacroStmt& stmt, Scope& scope);
  StatusOr<Value> CallMacro(const MacroStmt& stmt, Scope& defining_scope, CallArgs& args);

  // Expressions (render_expressions.cc).
  StatusOr<Value> Eval(const Expr& expr, Scope& scope);
  StatusOr<Value> EvalExpr(const Expr& expr, Scope& scope);
  StatusOr<CallArgs> EvalArgs(const Arguments& args, Scope& scope);
  StatusOr<Value> EvalCompare(const CompareExpr& expr, Scope& scope);
  StatusOr<Value> EvalCollection(const Expr& expr, Scope& scope);
  // Applies a filter chain whose innermost operand is null to `input` (block filters).
  StatusOr<Value> ApplyFilterChain(const Expr& chain, Value input, Scope& scope);
  StatusOr<Value> CallFilter(const FilterExpr& expr, const Value& input, Scope& scope);

  const SourceMap& map_;
  const RenderOptions& options_;
  Flow flow_ = Flow::kNormal;
  bool located_ = false;
  int depth_ = 0;
  int64_t iterations_ = 0;
};

}  // namespace strata::jinja
