// The Jinja lexer, configured as transformers configures jinja2: trim_blocks (the first
// newline after a block or comment tag is removed), lstrip_blocks (whitespace before a block
// or comment tag at the start of a line is removed; `{%+` keeps it), whitespace
// control (`{%-`, `-%}`, `{{-`, `-}}`, `{#-`, `-#}` strip all whitespace on that side),
// comments, `{% raw %}`, and jinja2's newline handling (\r\n and \r read as \n; one trailing
// newline of the template is dropped). Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace strata::jinja {

enum class TokenKind {
  kText,        // template text, whitespace control already applied
  kPrintBegin,  // {{
  kPrintEnd,    // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text is the decoded value
  kInt,
  kFloat,
  kOperator,  // text is the operator: "+", "//", "(", "==", ...
  kEnd,       // end of the template
};

struct Token {
  TokenKind kind;
  uint32_t offset;  // byte offset in the normalized source
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
};

// Offsets of tokens and AST nodes turn into "line L, column C" (1-based; columns count code
// points) through this.
class SourceMap {
 public:
  explicit SourceMap(std::string_view source);
  std::string Where(uint32_t offset) const;

 private:
  std::string_view source_;
  std::vector<uint32_t> line_starts_;
};

// kInvalidArgument "line L, column C: message".
Status ErrorAt(const SourceMap& map, uint32_t offset, std::string_view message);

// \r\n and \r become \n, and one trailing newline is removed (jinja2's keep_trailing_newline
// is off).
std::string NormalizeSource(std::string_view source);

// Tokenizes normalized source. `map` must describe the same text.
StatusOr<std::vector<Token>> Lex(std::string_view source, const SourceMap& map);

}  // namespace strata::jinja
