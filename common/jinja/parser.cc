// Recursive-descent parser mirroring jinja2's Parser; see parser.h.
#include "common/jinja/parser.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "common/jinja/filters.h"
#include "common/jinja/is_tests.h"
#include "common/jinja/pystring.h"

namespace strata::jinja {
namespace {

constexpr int kMaxNesting = 100;       // brackets, `not`/unary chains and blocks
constexpr int kMaxNodesPerTag = 5000;  // bounds operator chains, hence tree height

using Names = std::initializer_list<std::string_view>;

bool IsLiteralName(std::string_view name) {
  return name == "true" || name == "false" || name == "True" || name == "False" || name == "none" ||
         name == "None";
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const SourceMap& map) : tokens_(tokens), map_(map) {}

  StatusOr<Body> Run() { return ParseBody({}, nullptr); }

 private:
  // Bounds recursion; constructed on entry to each recursive production.
  class Nest {
   public:
    explicit Nest(Parser& p) : p_(p) { ++p_.nesting_; }
    ~Nest() { --p_.nesting_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;

   private:
    Parser& p_;
  };

  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Peek() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  static bool IsOp(const Token& t, std::string_view op) {
    return t.kind == TokenKind::kOperator && t.text == op;
  }
  static bool IsName(const Token& t, std::string_view name) {
    return t.kind == TokenKind::kName && t.text == name;
  }
  static bool IsNameIn(const Token& t, Names names) {
    return t.kind == TokenKind::kName &&
           std::find(names.begin(), names.end(), t.text) != names.end();
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEnd: return "end of template";
      case TokenKind::kText: return "text";
      case TokenKind::kPrintBegin: return "token '{{'";
      case TokenKind::kPrintEnd: return "token '}}'";
      case TokenKind::kBlockBegin: return "token '{%'";
      case TokenKind::kBlockEnd: return "token '%}'";
      case TokenKind::kString: return "string " + StrRepr(t.text);
      default: return "token '" + t.text + "'";
    }
  }

  Status Error(uint32_t offset, std::string_view message) const {
    return ErrorAt(map_, offset, message);
  }
  Status Unexpected(std::string_view expected = {}) const {
    std::string message = "unexpected " + Describe(Cur());
    if (!expected.empty()) message += " (expected " + std::string(expected) + ")";
    return Error(Cur().offset, message);
  }
  Status CheckDepth() const {
    if (nesting_ > kMaxNesting) return Error(Cur().offset, "template nested too deeply");
    return OkStatus();
  }
  Status Count() {
    if (++nodes_in_tag_ > kMaxNodesPerTag) return Error(Cur().offset, "expression too long");
    return OkStatus();
  }

  Status ExpectOp(std::string_view op) {
    if (!IsOp(Cur(), op)) return Unexpected("'" + std::string(op) + "'");
    Advance();
    return OkStatus();
  }
  Status ExpectKind(TokenKind kind, std::string_view what) {
    if (Cur().kind != kind) return Unexpected(what);
    Advance();
    return OkStatus();
  }
  StatusOr<std::string> ExpectName() {
    if (Cur().kind != TokenKind::kName) return Unexpected("a name");
    std::string name = Cur().text;
    Advance();
    return name;
  }
  Status ExpectKeyword(std::string_view name) {
    if (!IsName(Cur(), name)) return Unexpected("'" + std::string(name) + "'");
    Advance();
    return OkStatus();
  }

  // ---- Statements ----

  // Statements up to a block tag named in `ends` (left as the current token) or the end of the
  // template (only allowed at the top level; `opener` is the tag that needs closing).
  StatusOr<Body> ParseBody(Names ends, const Token* opener) {
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    Body body;
    while (true) {
      const Token& t = Cur();
      nodes_in_tag_ = 0;
      switch (t.kind) {
        case TokenKind::kText:
          body.push_back(std::make_unique<TextStmt>(t.offset, t.text));
          Advance();
          break;
        case TokenKind::kPrintBegin: {
          Advance();
          STRATA_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(false, true, {}, false));
          STRATA_RETURN_IF_ERROR(ExpectKind(TokenKind::kPrintEnd, "'}}'"));
          body.push_back(std::make_unique<PrintStmt>(t.offset, std::move(e)));
          break;
        }
        case TokenKind::kBlockBegin: {
          Advance();
          if (IsNameIn(Cur(), ends)) return body;
          STRATA_ASSIGN_OR_RETURN(StmtPtr stmt, ParseStatement(ends));
          STRATA_RETURN_IF_ERROR(ExpectKind(TokenKind::kBlockEnd, "'%}'"));
          body.push_back(std::move(stmt));
          break;
        }
        case TokenKind::kEnd: {
          if (opener == nullptr) return body;
          return Error(opener->offset, "'" + opener->text + "' tag is never closed (expected " +
                                           ListNames(ends) + " before the end of the template)");
        }
        default: return Unexpected();
      }
    }
  }

  static std::string ListNames(Names names) {
    std::string out;
    for (std::string_view n : names) {
      if (!out.empty()) out += " or ";
      out += "'" + std::string(n) + "'";
    }
    return out;
  }

  // After the tag's own tokens: the closing %}, then the body up to one of `ends`.
  StatusOr<Body> ParseStatements(Names ends, const Token& opener) {
    if (IsOp(Cur(), ":")) Advance();
    STRATA_RETURN_IF_ERROR(ExpectKind(TokenKind::kBlockEnd, "'%}'"));
    return ParseBody(ends, &opener);
  }

  StatusOr<StmtPtr> ParseStatement(Names open_ends) {
    const Token& t = Cur();
    if (t.kind != TokenKind::kName) return Unexpected("a tag name");
    const std::string& name = t.text;
    if (name == "for") return ParseFor();
    if (name == "if") return ParseIf();
    if (name == "set") return ParseSet();
    if (name == "macro") return ParseMacro();
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return Error(t.offset, "'" + name + "' outside of a loop");
      Advance();
      return StmtPtr(std::make_unique<LoopControlStmt>(t.offset, name == "break"));
    }
    if (name == "with" || name == "generation") return ParseScope();
    if (name == "filter") return ParseFilterBlock();
    if (name == "print") {
      Advance();
      STRATA_ASSIGN_OR_RETURN(ExprPtr e, ParseTuple(false, true, {}, false));
      return StmtPtr(std::make_unique<PrintStmt>(t.offset, std::move(e)));
    }
    static constexpr std::string_view kUnsupported[] = {"extends", "include", "import",     "from",
                                                        "block",   "call",    "autoescape", "do"};
    for (std::string_view u : kUnsupported) {
      if (name == u)
        return Error(t.offset, "the '" + name + "' tag is not supported in chat templates");
    }
    bool closing = name.starts_with("end") || name == "else" || name == "elif";
    if (!closing) return Error(t.offset, "unknown tag '" + name + "'");
    if (open_ends.size() == 0)
      return Error(t.offset, "unexpected tag '" + name + "' (no block is open)");
    return Error(t.offset, "unexpected tag '" + name + "' (expected " + ListNames(open_ends) + ")");
  }

  StatusOr<StmtPtr> ParseFor() {
    const Token& opener = Cur();
    auto node = std::make_unique<ForStmt>(opener.offset);
    Advance();
    STRATA_ASSIGN_OR_RETURN(node->target, ParseTarget({"in"}, false));
    STRATA_RETURN_IF_ERROR(ExpectKeyword("in"));
    STRATA_ASSIGN_OR_RETURN(node->iterable, ParseTuple(false, false, {"recursive"}, false));
    if (IsName(Cur(), "if")) {
      Advance();
      STRATA_ASSIGN_OR_RETURN(node->filter, ParseExpression(true));
    }
    if (IsName(Cur(), "recursive")) return Error(Cur().offset, "recursive loops are not supported");
    ++loop_depth_;
    StatusOr<Body> body = ParseStatements({"endfor", "else"}, opener);
    --loop_depth_;
    if (!body.ok()) return body.status();
    node->body = std::move(*body);
    bool has_else = IsName(Cur(), "else");
    Advance();
    if (has_else) {
      STRATA_ASSIGN_OR_RETURN(node->otherwise, ParseStatements({"endfor"}, opener));
      Advance();
    }
    return StmtPtr(std::move(node));
  }

  StatusOr<StmtPtr> ParseIf() {
    const Token& opener = Cur();
    auto node = std::make_unique<IfStmt>(opener.offset);
    Advance();
    while (true) {
      STRATA_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(false, false, {}, false));
      STRATA_ASSIGN_OR_RETURN(Body body, ParseStatements({"elif", "else", "endif"}, opener));
      node->branches.emplace_back(std::move(cond), std::move(body));
      std::string end = Cur().text;
      Advance();
      if (end == "elif") continue;
      if (end == "else") {
        STRATA_ASSIGN_OR_RETURN(node->otherwise, ParseStatements({"endif"}, opener));
        Advance();
      }
      return StmtPtr(std::move(node));
    }
  }

  StatusOr<StmtPtr> ParseSet() {
    const Token& opener = Cur();
    Advance();
    STRATA_ASSIGN_OR_RETURN(Target target, ParseTarget({}, true));
    if (IsOp(Cur(), "=")) {
      Advance();
      auto node = std::make_unique<SetStmt>(opener.offset);
      node->target = std::move(target);
      STRATA_ASSIGN_OR_RETURN(node->value, ParseTuple(false, true, {}, false));
      return StmtPtr(std::move(node));
    }
    auto node = std::make_unique<SetBlockStmt>(opener.offset);
    node->target = std::move(target);
    if (IsOp(Cur(), "|")) {
      STRATA_ASSIGN_OR_RETURN(node->filters, ParseFilter(nullptr, false));
    }
    STRATA_ASSIGN_OR_RETURN(node->body, ParseStatements({"endset"}, opener));
    Advance();
    return StmtPtr(std::move(node));
  }

  // A name, names separated by commas (unpacking), or with `allow_attr` also `ns.attr`.
  StatusOr<Target> ParseTarget(Names extra_ends, bool allow_attr) {
    Target target;
    if (allow_attr && Cur().kind == TokenKind::kName && IsOp(Peek(), ".")) {
      target.names.push_back(Cur().text);
      Advance();
      Advance();
      STRATA_ASSIGN_OR_RETURN(target.attr, ExpectName());
      return target;
    }
    while (true) {
      if (!target.names.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_ends) && !target.names.empty()) break;
      if (Cur().kind != TokenKind::kName || IsLiteralName(Cur().text)) {
        return Unexpected("a variable name to assign to");
      }
      target.names.push_back(Cur().text);
      Advance();
      if (!IsOp(Cur(), ",")) break;
      target.unpack = true;
    }
    return target;
  }

  StatusOr<StmtPtr> ParseMacro() {
    const Token& opener = Cur();
    auto node = std::make_unique<MacroStmt>(opener.offset);
    Advance();
    STRATA_ASSIGN_OR_RETURN(node->name, ExpectName());
    STRATA_RETURN_IF_ERROR(ExpectOp("("));
    bool seen_default = false;
    while (!IsOp(Cur(), ")")) {
      if (!node->params.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
      STRATA_ASSIGN_OR_RETURN(std::string param, ExpectName());
      node->params.push_back(std::move(param));
      ExprPtr default_value;
      if (IsOp(Cur(), "=")) {
        Advance();
        STRATA_ASSIGN_OR_RETURN(default_value, ParseExpression(true));
        seen_default = true;
      } else if (seen_default) {
        return Error(Cur().offset, "non-default argument follows default argument");
      }
      node->defaults.push_back(std::move(default_value));
    }
    Advance();
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    StatusOr<Body> body = ParseStatements({"endmacro"}, opener);
    loop_depth_ = saved_loop_depth;
    if (!body.ok()) return body.status();
    node->body = std::move(*body);
    Advance();
    return StmtPtr(std::move(node));
  }

  // {% with a = x, b = y %}...{% endwith %} and {% generation %}...{% endgeneration %}.
  StatusOr<StmtPtr> ParseScope() {
    const Token& opener = Cur();
    bool is_with = opener.text == "with";
    auto node = std::make_unique<ScopeStmt>(opener.offset);
    Advance();
    while (is_with && Cur().kind != TokenKind::kBlockEnd) {
      if (!node->bindings.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
      STRATA_ASSIGN_OR_RETURN(std::string name, ExpectName());
      STRATA_RETURN_IF_ERROR(ExpectOp("="));
      STRATA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
      node->bindings.emplace_back(std::move(name), std::move(value));
    }
    STRATA_ASSIGN_OR_RETURN(node->body,
                            ParseStatements({is_with ? "endwith" : "endgeneration"}, opener));
    Advance();
    return StmtPtr(std::move(node));
  }

  StatusOr<StmtPtr> ParseFilterBlock() {
    const Token& opener = Cur();
    auto node = std::make_unique<FilterBlockStmt>(opener.offset);
    Advance();
    STRATA_ASSIGN_OR_RETURN(node->filters, ParseFilter(nullptr, true));
    STRATA_ASSIGN_OR_RETURN(node->body, ParseStatements({"endfilter"}, opener));
    Advance();
    return StmtPtr(std::move(node));
  }

  // ---- Expressions ----

  bool IsTupleEnd(Names extra_ends) const {
    const Token& t = Cur();
    return t.kind == TokenKind::kPrintEnd || t.kind == TokenKind::kBlockEnd || IsOp(t, ")") ||
           IsNameIn(t, extra_ends);
  }

  // Comma-separated expressions; a tuple when there is a comma. `simplified` parses primaries
  // only; without `with_condexpr` the elements may not be conditional expressions.
  StatusOr<ExprPtr> ParseTuple(bool simplified, bool with_condexpr, Names extra_ends,
                               bool explicit_parens) {
    uint32_t offset = Cur().offset;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) STRATA_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_ends)) break;
      StatusOr<ExprPtr> item = simplified ? ParsePrimary() : ParseExpression(with_condexpr);
      if (!item.ok()) return item.status();
      items.push_back(std::move(*item));
      if (!IsOp(Cur(), ",")) break;
      is_tuple = true;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) return Unexpected("an expression");
    }
    auto tuple = std::make_unique<ListExpr>(offset, true);
    tuple->items = std::move(items);
    return ExprPtr(std::move(tuple));
  }

  StatusOr<ExprPtr> ParseExpression(bool with_condexpr) {
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    if (!with_condexpr) return ParseOr();
    STRATA_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (IsName(Cur(), "if")) {
      uint32_t offset = Cur().offset;
      Advance();
      STRATA_RETURN_IF_ERROR(Count());
      STRATA_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      auto node = std::make_unique<CondExpr>(offset, std::move(expr), std::move(cond));
      if (IsName(Cur(), "else")) {
        Advance();
        STRATA_ASSIGN_OR_RETURN(node->otherwise, ParseExpression(true));
      }
      expr = std::move(node);
    }
    return expr;
  }

  StatusOr<ExprPtr> ParseOr() {
    STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName(Cur(), "or")) {
      uint32_t offset = Cur().offset;
      Advance();
      STRATA_RETURN_IF_ERROR(Count());
      STRATA_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      left = std::make_unique<BinaryExpr>(offset, BinaryOp::kOr, std::move(left), std::move(right));
    }
    return left;
  }

  StatusOr<ExprPtr> ParseAnd() {
    STRATA_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName(Cur(), "and")) {
      uint32_t offset = Cur().offset;
      Advance();
      STRATA_RETURN_IF_ERROR(Count());
      STRATA_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      left =
          std::make_unique<BinaryExpr>(offset, BinaryOp::kAnd, std::move(left), std::move(right));
    }
    return left;
  }

  StatusOr<ExprPtr> ParseNot() {
    if (!IsName(Cur(), "not")) return ParseCompare();
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    uint32_t offset = Cur().offset;
    Advance();
    STRATA_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    return ExprPtr(std::make_unique<UnaryExpr>(offset, UnaryOp::kNot, std::move(operand)));
  }

  StatusOr<ExprPtr> ParseCompare() {
    STRATA_ASSIGN_OR_RETURN(ExprPtr expr, ParseMath1());
    std::unique_ptr<CompareExpr> compare;
    while (true) {
      const Token& t = Cur();
      CompareOp op;
      if (t.kind == TokenKind::kOperator && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                             t.text == "<=" || t.text == ">" || t.text == ">=")) {
        op = t.text == "=="   ? CompareOp::kEq
             : t.text == "!=" ? CompareOp::kNe
             : t.text == "<"  ? CompareOp::kLt
             : t.text == "<=" ? CompareOp::kLe
             : t.text == ">"  ? CompareOp::kGt
                              : CompareOp::kGe;
        Advance();
      } else if (IsName(t, "in")) {
        op = CompareOp::kIn;
        Advance();
      } else if (IsName(t, "not") && IsName(Peek(), "in")) {
        op = CompareOp::kNotIn;
        Advance();
        Advance();
      } else {
        break;
      }
      STRATA_RETURN_IF_ERROR(Count());
      if (!compare) compare = std::make_unique<CompareExpr>(t.offset, std::move(expr));
      STRATA_ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      compare->rest.emplace_back(op, std::move(operand));
    }
    if (compare) return ExprPtr(std::move(compare));
    return expr;
  }

  // Left-associative binary operators over `next` (a member function parsing the operands).
  template <typename Next>
  StatusOr<ExprPtr> ParseBinary(Next next,
                                std::initializer_list<std::pair<std::string_view, BinaryOp>> ops) {
    STRATA_ASSIGN_OR_RETURN(ExprPtr left, (this->*next)());
    while (true) {
      const Token& t = Cur();
      auto it =
          std::find_if(ops.begin(), ops.end(), [&](const auto& op) { return IsOp(t, op.first); });
      if (it == ops.end()) return left;
      Advance();
      STRATA_RETURN_IF_ERROR(Count());
      STRATA_ASSIGN_OR_RETURN(ExprPtr right, (this->*next)());
      left = std::make_unique<BinaryExpr>(t.offset, it->second, std::move(left), std::move(right));
    }
  }

  StatusOr<ExprPtr> ParseMath1() {
    return ParseBinary(&Parser::ParseConcat, {{"+", BinaryOp::kAdd}, {"-", BinaryOp::kSub}});
  }

  StatusOr<ExprPtr> ParseConcat() {
    STRATA_ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
    if (!IsOp(Cur(), "~")) return first;
    auto concat = std::make_unique<ConcatExpr>(Cur().offset);
    concat->parts.push_back(std::move(first));
    while (IsOp(Cur(), "~")) {
      Advance();
      STRATA_RETURN_IF_ERROR(Count());
      STRATA_ASSIGN_OR_RETURN(ExprPtr part, ParseMath2());
      concat->parts.push_back(std::move(part));
    }
    return ExprPtr(std::move(concat));
  }

  StatusOr<ExprPtr> ParseMath2() {
    return ParseBinary(&Parser::ParsePow, {{"*", BinaryOp::kMul},
                                           {"/", BinaryOp::kDiv},
                                           {"//", BinaryOp::kFloorDiv},
                                           {"%", BinaryOp::kMod}});
  }

  StatusOr<ExprPtr> ParsePow() {
    return ParseBinary(&Parser::ParseFilteredUnary, {{"**", BinaryOp::kPow}});
  }

  StatusOr<ExprPtr> ParseFilteredUnary() { return ParseUnary(true); }

  StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    STRATA_RETURN_IF_ERROR(Count());
    const Token& t = Cur();
    ExprPtr node;
    if (IsOp(t, "-") || IsOp(t, "+")) {
      Advance();
      STRATA_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      node = std::make_unique<UnaryExpr>(t.offset, t.text == "-" ? UnaryOp::kNeg : UnaryOp::kPos,
                                         std::move(operand));
    } else {
      STRATA_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    STRATA_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) return ParseFilterExpr(std::move(node));
    return node;
  }

  StatusOr<ExprPtr> ParsePrimary() {
    const Token& t = Cur();
    switch (t.kind) {
      case TokenKind::kName: {
        Advance();
        if (t.text == "true" || t.text == "True") return Literal(t, Value::Bool(true));
        if (t.text == "false" || t.text == "False") return Literal(t, Value::Bool(false));
        if (t.text == "none" || t.text == "None") return Literal(t, Value::None());
        return ExprPtr(std::make_unique<NameExpr>(t.offset, t.text));
      }
      case TokenKind::kString: {
        std::string text;
        while (Cur().kind == TokenKind::kString) {  // adjacent literals concatenate
          text += Cur().text;
          Advance();
        }
        return Literal(t, Value::Str(std::move(text)));
      }
      case TokenKind::kInt: Advance(); return Literal(t, Value::Int(t.int_value));
      case TokenKind::kFloat: Advance(); return Literal(t, Value::Float(t.float_value));
      default: break;
    }
    if (IsOp(t, "(")) {
      Nest nest(*this);
      STRATA_RETURN_IF_ERROR(CheckDepth());
      Advance();
      STRATA_ASSIGN_OR_RETURN(ExprPtr inner, ParseTuple(false, true, {}, true));
      STRATA_RETURN_IF_ERROR(ExpectOp(")"));
      return inner;
    }
    if (IsOp(t, "[") || IsOp(t, "{")) return ParseListOrDict();
    return Unexpected("an expression");
  }

  static StatusOr<ExprPtr> Literal(const Token& t, Value v) {
    return ExprPtr(std::make_unique<LiteralExpr>(t.offset, std::move(v)));
  }

  StatusOr<ExprPtr> ParseListOrDict() {
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    const Token& open = Cur();
    bool is_dict = open.text == "{";
    std::string_view close = is_dict ? "}" : "]";
    Advance();
    auto list = std::make_unique<ListExpr>(open.offset, false);
    auto dict = std::make_unique<DictExpr>(open.offset);
    bool first = true;
    while (!IsOp(Cur(), close)) {
      if (!first) {
        STRATA_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(Cur(), close)) break;  // trailing comma
      }
      first = false;
      STRATA_RETURN_IF_ERROR(Count());
      STRATA_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
      if (is_dict) {
        STRATA_RETURN_IF_ERROR(ExpectOp(":"));
        STRATA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        dict->items.emplace_back(std::move(item), std::move(value));
      } else {
        list->items.push_back(std::move(item));
      }
    }
    Advance();
    if (is_dict) return ExprPtr(std::move(dict));
    return ExprPtr(std::move(list));
  }

  StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      const Token& t = Cur();
      if (IsOp(t, ".")) {
        Advance();
        const Token& attr = Cur();
        STRATA_RETURN_IF_ERROR(Count());
        if (attr.kind == TokenKind::kName) {
          node = std::make_unique<AttrExpr>(t.offset, std::move(node), attr.text);
        } else if (attr.kind == TokenKind::kInt) {
          auto index = std::make_unique<LiteralExpr>(attr.offset, Value::Int(attr.int_value));
          node = std::make_unique<ItemExpr>(t.offset, std::move(node), std::move(index));
        } else {
          return Unexpected("an attribute name or number");
        }
        Advance();
      } else if (IsOp(t, "[")) {
        STRATA_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
      } else if (IsOp(t, "(")) {
        STRATA_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // object[index], object[a:b:c]; several comma-separated indexes make a tuple key.
  StatusOr<ExprPtr> ParseSubscript(ExprPtr object) {
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    STRATA_RETURN_IF_ERROR(Count());
    uint32_t offset = Cur().offset;
    Advance();
    auto slice = std::make_unique<SliceExpr>(offset, nullptr);
    std::vector<ExprPtr> keys;
    bool is_slice = false;
    while (!IsOp(Cur(), "]")) {
      if (!keys.empty() || is_slice) STRATA_RETURN_IF_ERROR(ExpectOp(","));
      if (is_slice) return Error(Cur().offset, "a slice cannot be part of a tuple index");
      ExprPtr start;
      if (!IsOp(Cur(), ":")) {
        STRATA_ASSIGN_OR_RETURN(start, ParseExpression(true));
        if (!IsOp(Cur(), ":")) {
          keys.push_back(std::move(start));
          continue;
        }
      }
      if (!keys.empty()) return Error(Cur().offset, "a slice cannot be part of a tuple index");
      is_slice = true;
      Advance();  // the first ':'
      slice->start = std::move(start);
      auto ends_part = [&] { return IsOp(Cur(), "]") || IsOp(Cur(), ",") || IsOp(Cur(), ":"); };
      if (!ends_part()) {
        STRATA_ASSIGN_OR_RETURN(slice->stop, ParseExpression(true));
      }
      if (IsOp(Cur(), ":")) {
        Advance();
        if (!IsOp(Cur(), "]") && !IsOp(Cur(), ",")) {
          STRATA_ASSIGN_OR_RETURN(slice->step, ParseExpression(true));
        }
      }
    }
    Advance();
    if (is_slice) {
      slice->object = std::move(object);
      return ExprPtr(std::move(slice));
    }
    if (keys.empty()) return Error(offset, "empty index");
    ExprPtr key;
    if (keys.size() == 1) {
      key = std::move(keys[0]);
    } else {
      auto tuple = std::make_unique<ListExpr>(offset, true);
      tuple->items = std::move(keys);
      key = std::move(tuple);
    }
    return ExprPtr(std::make_unique<ItemExpr>(offset, std::move(object), std::move(key)));
  }

  StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    uint32_t offset = callee->offset;  // errors point at what is called
    auto call = std::make_unique<CallExpr>(offset, std::move(callee));
    STRATA_RETURN_IF_ERROR(ParseArguments(call->args));
    return ExprPtr(std::move(call));
  }

  Status ParseArguments(Arguments& args) {
    Nest nest(*this);
    STRATA_RETURN_IF_ERROR(CheckDepth());
    STRATA_RETURN_IF_ERROR(ExpectOp("("));
    bool need_comma = false;
    while (!IsOp(Cur(), ")")) {
      if (need_comma) {
        STRATA_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(Cur(), ")")) break;  // trailing comma
      }
      if (IsOp(Cur(), "*") || IsOp(Cur(), "**"))
        return Error(Cur().offset, "*args and **kwargs are not supported");
      STRATA_RETURN_IF_ERROR(Count());
      if (Cur().kind == TokenKind::kName && IsOp(Peek(), "=")) {
        std::string key = Cur().text;
        Advance();
        Advance();
        STRATA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        args.keyword.emplace_back(std::move(key), std::move(value));
      } else {
        if (!args.keyword.empty())
          return Error(Cur().offset, "positional argument follows keyword argument");
        STRATA_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        args.positional.push_back(std::move(value));
      }
      need_comma = true;
    }
    Advance();
    return OkStatus();
  }

  StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp(Cur(), "|")) {
        STRATA_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
      } else if (IsName(Cur(), "is")) {
        STRATA_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp(Cur(), "(")) {
        STRATA_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // `| name(args)` repeated; with `inline_first` the first filter has no leading `|`.
  StatusOr<ExprPtr> ParseFilter(ExprPtr node, bool inline_first) {
    while (IsOp(Cur(), "|") || inline_first) {
      if (!inline_first) Advance();
      inline_first = false;
      STRATA_RETURN_IF_ERROR(Count());
      const Token& name = Cur();
      STRATA_RETURN_IF_ERROR(ExpectKind(TokenKind::kName, "a filter name"));
      if (!HasFilter(name.text)) return Error(name.offset, "no filter named '" + name.text + "'");
      auto filter = std::make_unique<FilterExpr>(name.offset, std::move(node), name.text);
      if (IsOp(Cur(), "(")) STRATA_RETURN_IF_ERROR(ParseArguments(filter->args));
      node = std::move(filter);
    }
    return node;
  }

  StatusOr<ExprPtr> ParseTest(ExprPtr node) {
    uint32_t offset = Cur().offset;
    Advance();  // `is`
    STRATA_RETURN_IF_ERROR(Count());
    bool negated = IsName(Cur(), "not");
    if (negated) Advance();
    const Token& name = Cur();
    STRATA_RETURN_IF_ERROR(ExpectKind(TokenKind::kName, "a test name"));
    if (!HasTest(name.text)) return Error(name.offset, "no test named '" + name.text + "'");
    auto test = std::make_unique<TestExpr>(offset, std::move(node), name.text, negated);
    const Token& t = Cur();
    if (IsOp(t, "(")) {
      STRATA_RETURN_IF_ERROR(ParseArguments(test->args));
    } else if ((t.kind == TokenKind::kName || t.kind == TokenKind::kString ||
                t.kind == TokenKind::kInt || t.kind == TokenKind::kFloat || IsOp(t, "[") ||
                IsOp(t, "{")) &&
               !IsNameIn(t, {"else", "or", "and"})) {
      // `x is divisibleby 3`: one argument without parentheses.
      if (IsName(t, "is")) return Error(t.offset, "tests cannot be chained with 'is'");
      STRATA_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      STRATA_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      test->args.positional.push_back(std::move(arg));
    }
    return ExprPtr(std::move(test));
  }

  const std::vector<Token>& tokens_;
  const SourceMap& map_;
  size_t pos_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
  int nodes_in_tag_ = 0;
};

}  // namespace

StatusOr<Body> Parse(const std::vector<Token>& tokens, const SourceMap& map) {
  return Parser(tokens, map).Run();
}

}  // namespace strata::jinja
