// The syntax tree the parser builds and the renderer walks: expressions (Expr subclasses,
// told apart by `kind`) and statements (Stmt subclasses). Every node keeps the byte offset of
// the token it came from, for error locations.
// Thread-safety: immutable after parsing; shared by concurrent renders.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/jinja/value.h"

namespace strata::jinja {

struct Expr {
  enum class Kind {
    kLiteral,
    kName,
    kList,
    kDict,
    kAttr,
    kItem,
    kSlice,
    kCall,
    kFilter,
    kTest,
    kUnary,
    kBinary,
    kCompare,
    kConcat,
    kCond,
  };
  Expr(Kind k, uint32_t off) : kind(k), offset(off) {}
  virtual ~Expr() = default;
  const Kind kind;
  const uint32_t offset;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct LiteralExpr : Expr {
  LiteralExpr(uint32_t off, Value v) : Expr(Kind::kLiteral, off), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(uint32_t off, std::string n) : Expr(Kind::kName, off), name(std::move(n)) {}
  std::string name;
};

struct ListExpr : Expr {  // [a, b] or (a, b)
  ListExpr(uint32_t off, bool tuple) : Expr(Kind::kList, off), is_tuple(tuple) {}
  std::vector<ExprPtr> items;
  bool is_tuple;
};

struct DictExpr : Expr {
  explicit DictExpr(uint32_t off) : Expr(Kind::kDict, off) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct AttrExpr : Expr {  // object.name
  AttrExpr(uint32_t off, ExprPtr obj, std::string n)
      : Expr(Kind::kAttr, off), object(std::move(obj)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct ItemExpr : Expr {  // object[index]
  ItemExpr(uint32_t off, ExprPtr obj, ExprPtr idx)
      : Expr(Kind::kItem, off), object(std::move(obj)), index(std::move(idx)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr : Expr {  // object[start:stop:step], each part optional
  SliceExpr(uint32_t off, ExprPtr obj) : Expr(Kind::kSlice, off), object(std::move(obj)) {}
  ExprPtr object, start, stop, step;
};

struct CallExpr : Expr {
  CallExpr(uint32_t off, ExprPtr fn) : Expr(Kind::kCall, off), callee(std::move(fn)) {}
  ExprPtr callee;
  Arguments args;
};

struct FilterExpr : Expr {  // operand | name(args); a null operand is a filter block's body
  FilterExpr(uint32_t off, ExprPtr in, std::string n)
      : Expr(Kind::kFilter, off), operand(std::move(in)), name(std::move(n)) {}
  ExprPtr operand;
  std::string name;
  Arguments args;
};

struct TestExpr : Expr {  // operand is [not] name(args)
  TestExpr(uint32_t off, ExprPtr in, std::string n, bool neg)
      : Expr(Kind::kTest, off), operand(std::move(in)), name(std::move(n)), negated(neg) {}
  ExprPtr operand;
  std::string name;
  Arguments args;
  bool negated;
};

enum class UnaryOp { kNot, kNeg, kPos };

struct UnaryExpr : Expr {
  UnaryExpr(uint32_t off, UnaryOp o, ExprPtr in)
      : Expr(Kind::kUnary, off), op(o), operand(std::move(in)) {}
  UnaryOp op;
  ExprPtr operand;
};

enum class BinaryOp { kAnd, kOr, kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };

struct BinaryExpr : Expr {
  BinaryExpr(uint32_t off, BinaryOp o, ExprPtr l, ExprPtr r)
      : Expr(Kind::kBinary, off), op(o), lhs(std::move(l)), rhs(std::move(r)) {}
  BinaryOp op;
  ExprPtr lhs, rhs;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct CompareExpr : Expr {  // first op1 x op2 y ... (chained like Python)
  CompareExpr(uint32_t off, ExprPtr f) : Expr(Kind::kCompare, off), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

struct ConcatExpr : Expr {  // a ~ b ~ c
  explicit ConcatExpr(uint32_t off) : Expr(Kind::kConcat, off) {}
  std::vector<ExprPtr> parts;
};

struct CondExpr : Expr {  // then if cond else otherwise (otherwise may be null)
  CondExpr(uint32_t off, ExprPtr t, ExprPtr c)
      : Expr(Kind::kCond, off), then(std::move(t)), cond(std::move(c)) {}
  ExprPtr then, cond, otherwise;
};

struct Stmt {
  enum class Kind {
    kText,
    kPrint,
    kIf,
    kFor,
    kSet,
    kSetBlock,
    kMacro,
    kLoopControl,
    kScope,
    kFilterBlock
  };
  Stmt(Kind k, uint32_t off) : kind(k), offset(off) {}
  virtual ~Stmt() = default;
  const Kind kind;
  const uint32_t offset;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;
// Names a body's scope starts with as undefined rather than reading enclosing scopes or the
// context (jinja2's frame analysis; filled in by AnalyzeFrames).
using FreshNames = std::vector<std::string>;

struct TextStmt : Stmt {
  TextStmt(uint32_t off, std::string t) : Stmt(Kind::kText, off), text(std::move(t)) {}
  std::string text;
};

struct PrintStmt : Stmt {
  PrintStmt(uint32_t off, ExprPtr e) : Stmt(Kind::kPrint, off), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(uint32_t off) : Stmt(Kind::kIf, off) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body otherwise;
};

// What `for` and `set` assign to: one name, names unpacked from a tuple, or `ns.attr`.
struct Target {
  std::vector<std::string> names;
  bool unpack = false;
  std::string attr;  // non-empty: names[0].attr on a namespace
};

struct ForStmt : Stmt {
  explicit ForStmt(uint32_t off) : Stmt(Kind::kFor, off) {}
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  Body body;
  Body otherwise;  // runs when nothing was iterated
  FreshNames body_fresh, otherwise_fresh;
};

struct SetStmt : Stmt {
  explicit SetStmt(uint32_t off) : Stmt(Kind::kSet, off) {}
  Target target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {  // {% set x | filters %}body{% endset %}
  explicit SetBlockStmt(uint32_t off) : Stmt(Kind::kSetBlock, off) {}
  Target target;
  ExprPtr filters;  // FilterExpr chain whose innermost operand is null; may be null
  Body body;
  FreshNames fresh;
};

struct MacroStmt : Stmt {
  explicit MacroStmt(uint32_t off) : Stmt(Kind::kMacro, off) {}
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // aligned with params; null where there is no default
  Body body;
  FreshNames fresh;
};

struct LoopControlStmt : Stmt {  // {% break %} / {% continue %}
  LoopControlStmt(uint32_t off, bool brk) : Stmt(Kind::kLoopControl, off), is_break(brk) {}
  bool is_break;
};

// A body with its own variable scope: {% with a = x %}, {% generation %}.
struct ScopeStmt : Stmt {
  explicit ScopeStmt(uint32_t off) : Stmt(Kind::kScope, off) {}
  std::vector<std::pair<std::string, ExprPtr>> bindings;
  Body body;
  FreshNames fresh;
};

struct FilterBlockStmt : Stmt {  // {% filter upper %}body{% endfilter %}
  explicit FilterBlockStmt(uint32_t off) : Stmt(Kind::kFilterBlock, off) {}
  ExprPtr filters;
  Body body;
  FreshNames fresh;
};

}  // namespace strata::jinja
