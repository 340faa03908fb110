// Frame analysis after jinja2's idtracking module; see frames.h.
#include "common/jinja/frames.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace strata::jinja {
namespace {

// How a frame's variable starts: a parameter, read from an enclosing frame or the context
// (resolve/alias), or undefined.
enum class Start { kParameter, kResolve, kUndefined };

// The symbol table of one frame; `parent` is the complete table of the enclosing frame.
class Symbols {
 public:
  explicit Symbols(const Symbols* parent) : parent_(parent) {}

  bool Known(const std::string& name) const {
    for (const Symbols* s = this; s != nullptr; s = s->parent_) {
      if (s->refs_.contains(name)) return true;
    }
    return false;
  }
  void Parameter(const std::string& name) { refs_[name] = Start::kParameter; }
  void Load(const std::string& name) {
    if (!Known(name)) refs_[name] = Start::kResolve;
  }
  void Store(const std::string& name) {
    stores_.insert(name);
    if (!refs_.contains(name)) {
      refs_[name] =
          parent_ != nullptr && parent_->Known(name) ? Start::kResolve : Start::kUndefined;
    }
  }

  // After an if: names assigned in some branches but not all read from outside until assigned.
  void MergeBranches(const std::vector<Symbols>& branches) {
    std::map<std::string, size_t> counts;
    for (const Symbols& b : branches) {
      for (const std::string& name : b.stores_) {
        if (!stores_.contains(name)) ++counts[name];
      }
    }
    for (const Symbols& b : branches) {
      for (const auto& [name, start] : b.refs_) refs_[name] = start;
      stores_.insert(b.stores_.begin(), b.stores_.end());
    }
    for (const auto& [name, count] : counts) {
      if (count != branches.size()) refs_[name] = Start::kResolve;
    }
  }

  FreshNames Fresh() const {
    FreshNames names;
    for (const auto& [name, start] : refs_) {
      if (start == Start::kUndefined) names.push_back(name);
    }
    return names;
  }

 private:
  const Symbols* parent_;
  std::map<std::string, Start> refs_;
  std::set<std::string> stores_;
};

void LoadNames(const Expr* e, Symbols& s);

void LoadArgs(const Arguments& args, Symbols& s) {
  for (const ExprPtr& a : args.positional) LoadNames(a.get(), s);
  for (const auto& [name, a] : args.keyword) LoadNames(a.get(), s);
}

// Every variable an expression reads.
void LoadNames(const Expr* e, Symbols& s) {
  if (e == nullptr) return;
  switch (e->kind) {
    case Expr::Kind::kLiteral: return;
    case Expr::Kind::kName: s.Load(static_cast<const NameExpr*>(e)->name); return;
    case Expr::Kind::kList:
      for (const ExprPtr& item : static_cast<const ListExpr*>(e)->items) LoadNames(item.get(), s);
      return;
    case Expr::Kind::kDict:
      for (const auto& [k, v] : static_cast<const DictExpr*>(e)->items) {
        LoadNames(k.get(), s);
        LoadNames(v.get(), s);
      }
      return;
    case Expr::Kind::kAttr: LoadNames(static_cast<const AttrExpr*>(e)->object.get(), s); return;
    case Expr::Kind::kItem: {
      const auto* x = static_cast<const ItemExpr*>(e);
      LoadNames(x->object.get(), s);
      LoadNames(x->index.get(), s);
      return;
    }
    case Expr::Kind::kSlice: {
      const auto* x = static_cast<const SliceExpr*>(e);
      for (const Expr* part : {x->object.get(), x->start.get(), x->stop.get(), x->step.get()})
        LoadNames(part, s);
      return;
    }
    case Expr::Kind::kCall: {
      const auto* x = static_cast<const CallExpr*>(e);
      LoadNames(x->callee.get(), s);
      LoadArgs(x->args, s);
      return;
    }
    case Expr::Kind::kFilter: {
      const auto* x = static_cast<const FilterExpr*>(e);
      LoadNames(x->operand.get(), s);
      LoadArgs(x->args, s);
      return;
    }
    case Expr::Kind::kTest: {
      const auto* x = static_cast<const TestExpr*>(e);
      LoadNames(x->operand.get(), s);
      LoadArgs(x->args, s);
      return;
    }
    case Expr::Kind::kUnary: LoadNames(static_cast<const UnaryExpr*>(e)->operand.get(), s); return;
    case Expr::Kind::kBinary: {
      const auto* x = static_cast<const BinaryExpr*>(e);
      LoadNames(x->lhs.get(), s);
      LoadNames(x->rhs.get(), s);
      return;
    }
    case Expr::Kind::kCompare: {
      const auto* x = static_cast<const CompareExpr*>(e);
      LoadNames(x->first.get(), s);
      for (const auto& [op, operand] : x->rest) LoadNames(operand.get(), s);
      return;
    }
    case Expr::Kind::kConcat:
      for (const ExprPtr& part : static_cast<const ConcatExpr*>(e)->parts) LoadNames(part.get(), s);
      return;
    case Expr::Kind::kCond: {
      const auto* x = static_cast<const CondExpr*>(e);
      LoadNames(x->then.get(), s);
      LoadNames(x->cond.get(), s);
      LoadNames(x->otherwise.get(), s);
      return;
    }
  }
}

void StoreTarget(const Target& target, Symbols& s) {
  if (!target.attr.empty()) {
    s.Load(target.names[0]);  // `set ns.attr` reads ns
    return;
  }
  for (const std::string& name : target.names) s.Store(name);
}

// A frame: its parameters are set first, then `preludes` (macro defaults) are read, then the
// body runs.
FreshNames AnalyzeFrame(Body& body, const Symbols* parent, const std::vector<std::string>& params,
                        const std::vector<ExprPtr>* preludes = nullptr);

// One frame's statements, without descending into nested frames (collected in `nested`).
class FrameVisitor {
 public:
  explicit FrameVisitor(std::vector<Stmt*>& nested) : nested_(nested) {}

  void VisitBody(Body& body, Symbols& s) {
    for (StmtPtr& stmt : body) Visit(*stmt, s);
  }

 private:
  void Visit(Stmt& stmt, Symbols& s) {
    switch (stmt.kind) {
      case Stmt::Kind::kText:
      case Stmt::Kind::kLoopControl: return;
      case Stmt::Kind::kPrint: LoadNames(static_cast<PrintStmt&>(stmt).expr.get(), s); return;
      case Stmt::Kind::kIf: VisitIf(static_cast<IfStmt&>(stmt), 0, s); return;
      case Stmt::Kind::kFor: LoadNames(static_cast<ForStmt&>(stmt).iterable.get(), s); break;
      case Stmt::Kind::kSet: {
        auto& x = static_cast<SetStmt&>(stmt);
        LoadNames(x.value.get(), s);
        StoreTarget(x.target, s);
        return;
      }
      case Stmt::Kind::kSetBlock: StoreTarget(static_cast<SetBlockStmt&>(stmt).target, s); break;
      case Stmt::Kind::kMacro: s.Store(static_cast<MacroStmt&>(stmt).name); break;
      case Stmt::Kind::kScope:
        for (const auto& [name, value] : static_cast<ScopeStmt&>(stmt).bindings)
          LoadNames(value.get(), s);
        break;
      case Stmt::Kind::kFilterBlock: break;
    }
    nested_.push_back(&stmt);
  }

  // jinja2 keeps elif branches as nested ifs: branch `first` with its body, then the rest as
  // one "elif" branch, then else.
  void VisitIf(IfStmt& stmt, size_t first, Symbols& s) {
    LoadNames(stmt.branches[first].first.get(), s);
    std::vector<Symbols> branches(3, s);
    VisitBody(stmt.branches[first].second, branches[0]);
    bool top = first == 0;
    if (top) {
      for (size_t i = 1; i < stmt.branches.size(); ++i) VisitIf(stmt, i, branches[1]);
      VisitBody(stmt.otherwise, branches[2]);
    }
    s.MergeBranches(branches);
  }

  std::vector<Stmt*>& nested_;
};

void AnalyzeNested(Stmt& stmt, const Symbols& parent) {
  switch (stmt.kind) {
    case Stmt::Kind::kFor: {
      auto& x = static_cast<ForStmt&>(stmt);
      std::vector<std::string> params = x.target.names;
      params.push_back("loop");
      x.body_fresh = AnalyzeFrame(x.body, &parent, params);
      x.otherwise_fresh = AnalyzeFrame(x.otherwise, &parent, {});
      return;
    }
    case Stmt::Kind::kMacro: {
      auto& x = static_cast<MacroStmt&>(stmt);
      x.fresh = AnalyzeFrame(x.body, &parent, x.params, &x.defaults);
      return;
    }
    case Stmt::Kind::kScope: {
      auto& x = static_cast<ScopeStmt&>(stmt);
      std::vector<std::string> params;
      for (const auto& [name, value] : x.bindings) params.push_back(name);
      x.fresh = AnalyzeFrame(x.body, &parent, params);
      return;
    }
    case Stmt::Kind::kSetBlock: {
      auto& x = static_cast<SetBlockStmt&>(stmt);
      x.fresh = AnalyzeFrame(x.body, &parent, {});
      return;
    }
    case Stmt::Kind::kFilterBlock: {
      auto& x = static_cast<FilterBlockStmt&>(stmt);
      x.fresh = AnalyzeFrame(x.body, &parent, {});
      return;
    }
    default: return;
  }
}

FreshNames AnalyzeFrame(Body& body, const Symbols* parent, const std::vector<std::string>& params,
                        const std::vector<ExprPtr>* preludes) {
  Symbols s(parent);
  for (const std::string& p : params) s.Parameter(p);
  if (preludes != nullptr) {
    for (const ExprPtr& e : *preludes) LoadNames(e.get(), s);
  }
  std::vector<Stmt*> nested;
  FrameVisitor(nested).VisitBody(body, s);
  for (Stmt* n : nested) AnalyzeNested(*n, s);
  return s.Fresh();
}

}  // namespace

FreshNames AnalyzeFrames(Body& template_body) { return AnalyzeFrame(template_body, nullptr, {}); }

}  // namespace strata::jinja
