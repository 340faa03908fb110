// Statement execution, scopes, macros and the render entry point; see renderer.h.
#include <string>

#include "common/jinja/globals.h"
#include "common/jinja/renderer.h"

namespace strata::jinja {

std::shared_ptr<Scope> Scope::Make(std::shared_ptr<Scope> parent) {
  return std::shared_ptr<Scope>(new Scope(std::move(parent)));
}

std::shared_ptr<Scope> Scope::Child(const FreshNames& fresh) {
  std::shared_ptr<Scope> child = Make(shared_from_this());
  for (const std::string& name : fresh)
    child->Set(name, Value::Undefined("'" + name + "' is undefined"));
  return child;
}

const Value* Scope::Find(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent_.get()) {
    for (const auto& [key, value] : s->vars_) {
      if (key == name) return &value;
    }
  }
  return nullptr;
}

void Scope::Set(std::string name, Value value) {
  for (auto& [key, v] : vars_) {
    if (key == name) {
      v = std::move(value);
      return;
    }
  }
  vars_.emplace_back(std::move(name), std::move(value));
}

StatusOr<std::string> Renderer::Render(const Body& body, const FreshNames& fresh,
                                       const Context& context) {
  std::shared_ptr<Scope> globals = Scope::Make(nullptr);
  for (auto& [name, value] : MakeGlobals(options_)) globals->Set(std::move(name), std::move(value));
  for (const auto& [name, value] : context) globals->Set(name, value);
  std::shared_ptr<Scope> root = globals->Child(fresh);
  std::string out;
  STRATA_RETURN_IF_ERROR(ExecBody(body, *root, out));
  return out;
}

Status Renderer::CheckDepth() const {
  if (depth_ > options_.max_depth) {
    return ResourceExhausted("template nesting or macro recursion deeper than " +
                             std::to_string(options_.max_depth) + " levels");
  }
  return OkStatus();
}

Status Renderer::Locate(const Status& status, uint32_t offset) {
  if (located_ || status.ok()) return status;
  located_ = true;
  return Status(status.code(), map_.Where(offset) + ": " + status.message());
}

Status Renderer::Append(std::string& out, std::string_view text) const {
  if (out.size() + text.size() > options_.max_output_bytes) {
    return ResourceExhausted("rendered text is larger than the limit of " +
                             std::to_string(options_.max_output_bytes) + " bytes");
  }
  out += text;
  return OkStatus();
}

Status Renderer::ExecBody(const Body& body, Scope& scope, std::string& out) {
  for (const StmtPtr& stmt : body) {
    STRATA_RETURN_IF_ERROR(Exec(*stmt, scope, out));
    if (flow_ != Flow::kNormal) break;
  }
  return OkStatus();
}

Status Renderer::Exec(const Stmt& stmt, Scope& scope, std::string& out) {
  Nest nest(*this);
  Status status = CheckDepth();
  if (status.ok()) status = ExecStmt(stmt, scope, out);
  return Locate(status, stmt.offset);
}

Status Renderer::ExecStmt(const Stmt& stmt, Scope& scope, std::string& out) {
  switch (stmt.kind) {
    case Stmt::Kind::kText: return Append(out, static_cast<const TextStmt&>(stmt).text);
    case Stmt::Kind::kPrint: {
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*static_cast<const PrintStmt&>(stmt).expr, scope));
      return Append(out, ToStr(v));
    }
    case Stmt::Kind::kIf: {
      const auto& s = static_cast<const IfStmt&>(stmt);
      for (const auto& [cond, body] : s.branches) {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*cond, scope));
        if (Truthy(v)) return ExecBody(body, scope, out);
      }
      return ExecBody(s.otherwise, scope, out);
    }
    case Stmt::Kind::kFor: return ExecFor(static_cast<const ForStmt&>(stmt), scope, out);
    case Stmt::Kind::kSet: {
      const auto& s = static_cast<const SetStmt&>(stmt);
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*s.value, scope));
      return Assign(s.target, v, scope);
    }
    case Stmt::Kind::kSetBlock: {
      const auto& s = static_cast<const SetBlockStmt&>(stmt);
      std::shared_ptr<Scope> inner = scope.Child(s.fresh);
      std::string text;
      STRATA_RETURN_IF_ERROR(ExecBody(s.body, *inner, text));
      Value v = Value::Str(std::move(text));
      if (s.filters) {
        STRATA_ASSIGN_OR_RETURN(v, ApplyFilterChain(*s.filters, std::move(v), scope));
      }
      return Assign(s.target, v, scope);
    }
    case Stmt::Kind::kMacro: {
      const auto& s = static_cast<const MacroStmt&>(stmt);
      scope.Set(s.name, MakeMacro(s, scope));
      return OkStatus();
    }
    case Stmt::Kind::kLoopControl:
      flow_ = static_cast<const LoopControlStmt&>(stmt).is_break ? Flow::kBreak : Flow::kContinue;
      return OkStatus();
    case Stmt::Kind::kScope: {
      const auto& s = static_cast<const ScopeStmt&>(stmt);
      std::shared_ptr<Scope> inner = scope.Child(s.fresh);
      for (const auto& [name, expr] : s.bindings) {
        STRATA_ASSIGN_OR_RETURN(Value v, Eval(*expr, scope));
        inner->Set(name, std::move(v));
      }
      return ExecBody(s.body, *inner, out);
    }
    case Stmt::Kind::kFilterBlock: {
      const auto& s = static_cast<const FilterBlockStmt&>(stmt);
      std::shared_ptr<Scope> inner = scope.Child(s.fresh);
      std::string text;
      STRATA_RETURN_IF_ERROR(ExecBody(s.body, *inner, text));
      STRATA_ASSIGN_OR_RETURN(Value v,
                              ApplyFilterChain(*s.filters, Value::Str(std::move(text)), scope));
      return Append(out, ToStr(v));
    }
  }
  return Internal("unknown statement");
}

Status Renderer::Assign(const Target& target, const Value& value, Scope& scope) {
  if (!target.attr.empty()) {
    const Value* ns = scope.Find(target.names[0]);
    if (ns == nullptr || !ns->is_namespace()) {
      return TypeError("cannot assign attribute on non-namespace object");
    }
    ns->ns().Set(target.attr, value);
    return OkStatus();
  }
  if (!target.unpack) {
    scope.Set(target.names[0], value);
    return OkStatus();
  }
  STRATA_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(value));
  if (items.size() != target.names.size()) {
    return TypeError(std::string(items.size() > target.names.size() ? "too many" : "not enough") +
                     " values to unpack (expected " + std::to_string(target.names.size()) +
                     ", got " + std::to_string(items.size()) + ")");
  }
  for (size_t i = 0; i < items.size(); ++i) scope.Set(target.names[i], std::move(items[i]));
  return OkStatus();
}

Status Renderer::ExecFor(const ForStmt& stmt, Scope& scope, std::string& out) {
  STRATA_ASSIGN_OR_RETURN(Value iterable, Eval(*stmt.iterable, scope));
  StatusOr<std::vector<Value>> all = Iterate(iterable);
  if (!all.ok()) return Locate(all.status(), stmt.iterable->offset);
  std::vector<Value> items;
  for (Value& item : *all) {
    if (++iterations_ > options_.max_loop_iterations) {
      return ResourceExhausted("more than " + std::to_string(options_.max_loop_iterations) +
                               " loop iterations");
    }
    if (stmt.filter) {
      std::shared_ptr<Scope> test_scope = scope.Child({});
      STRATA_RETURN_IF_ERROR(Assign(stmt.target, item, *test_scope));
      STRATA_ASSIGN_OR_RETURN(Value keep, Eval(*stmt.filter, *test_scope));
      if (!Truthy(keep)) continue;
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) return ExecBody(stmt.otherwise, *scope.Child(stmt.otherwise_fresh), out);
  for (size_t i = 0; i < items.size(); ++i) {
    std::shared_ptr<Scope> inner = scope.Child(stmt.body_fresh);
    STRATA_RETURN_IF_ERROR(Assign(stmt.target, items[i], *inner));
    inner->Set("loop", MakeLoopInfo(items, i));
    STRATA_RETURN_IF_ERROR(ExecBody(stmt.body, *inner, out));
    Flow flow = flow_;
    flow_ = Flow::kNormal;
    if (flow == Flow::kBreak) break;
  }
  return OkStatus();
}

Value Renderer::MakeLoopInfo(const std::vector<Value>& items, size_t index) {
  auto n = static_cast<int64_t>(items.size());
  auto i = static_cast<int64_t>(index);
  Dict loop;
  loop.entries = {
      {Value::Str("index"), Value::Int(i + 1)},
      {Value::Str("index0"), Value::Int(i)},
      {Value::Str("revindex"), Value::Int(n - i)},
      {Value::Str("revindex0"), Value::Int(n - i - 1)},
      {Value::Str("first"), Value::Bool(i == 0)},
      {Value::Str("last"), Value::Bool(i == n - 1)},
      {Value::Str("length"), Value::Int(n)},
      {Value::Str("depth"), Value::Int(1)},
      {Value::Str("depth0"), Value::Int(0)},
      {Value::Str("previtem"),
       i > 0 ? items[index - 1] : Value::Undefined("there is no previous item")},
      {Value::Str("nextitem"),
       i + 1 < n ? items[index + 1] : Value::Undefined("there is no next item")},
      {Value::Str("cycle"),
       Value::MakeFunction("loop.cycle",
                           [index](CallArgs& args) -> StatusOr<Value> {
                             if (args.positional.empty())
                               return TypeError("no items for cycling given");
                             return args.positional[index % args.positional.size()];
                           })},
  };
  return Value::MakeDict(std::move(loop));
}

// The macro holds its defining scope weakly: the scope holds the macro, and a strong
// reference would be a cycle. A macro that outlives its scope (stored in a namespace inside a
// loop, then called after it) cannot run.
Value Renderer::MakeMacro(const MacroStmt& stmt, Scope& scope) {
  std::weak_ptr<Scope> defining = scope.shared_from_this();
  return Value::MakeFunction("macro '" + stmt.name + "'",
                             [this, &stmt, defining](CallArgs& args) -> StatusOr<Value> {
                               std::shared_ptr<Scope> alive = defining.lock();
                               if (!alive)
                                 return TypeError("macro '" + stmt.name +
                                                  "' was called after the block defining it ended");
                               return CallMacro(stmt, *alive, args);
                             });
}

StatusOr<Value> Renderer::CallMacro(const MacroStmt& stmt, Scope& defining_scope, CallArgs& args) {
  Nest nest(*this);
  STRATA_RETURN_IF_ERROR(CheckDepth());
  std::string name = "macro '" + stmt.name + "'";
  size_t n = stmt.params.size();
  if (args.positional.size() > n) {
    return TypeError(name + " takes not more than " + std::to_string(n) + " argument(s)");
  }
  std::vector<std::optional<Value>> bound(n);
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = std::move(args.positional[i]);
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < n && stmt.params[i] != key) ++i;
    if (i == n) return TypeError(name + " takes no keyword argument '" + key + "'");
    if (bound[i]) return TypeError(name + " got multiple values for argument '" + key + "'");
    bound[i] = std::move(value);
  }
  std::shared_ptr<Scope> scope = defining_scope.Child(stmt.fresh);
  for (size_t i = 0; i < n; ++i) {
    if (bound[i]) {
      scope->Set(stmt.params[i], std::move(*bound[i]));
    } else if (stmt.defaults[i]) {
      STRATA_ASSIGN_OR_RETURN(Value v, Eval(*stmt.defaults[i], *scope));
      scope->Set(stmt.params[i], std::move(v));
    } else {
      scope->Set(stmt.params[i],
                 Value::Undefined("parameter '" + stmt.params[i] + "' was not provided"));
    }
  }
  std::string out;
  STRATA_RETURN_IF_ERROR(ExecBody(stmt.body, *scope, out));
  return Value::Str(std::move(out));
}

}  // namespace strata::jinja
