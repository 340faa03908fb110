// Template: parse (normalize, lex, parse) and render; see template.h.
#include "common/jinja/template.h"

#include "common/jinja/ast.h"
#include "common/jinja/frames.h"
#include "common/jinja/lexer.h"
#include "common/jinja/parser.h"
#include "common/jinja/renderer.h"

namespace strata::jinja {

// The normalized source (error locations point into it) and its syntax tree. Allocated once
// and never moved, so `map` may refer to `source`.
struct Template::Program {
  explicit Program(std::string text) : source(std::move(text)), map(source) {}
  const std::string source;
  const SourceMap map;
  Body body;
  FreshNames fresh;  // template-level names that start undefined
};

StatusOr<Template> Template::Parse(std::string_view source) {
  auto program = std::make_shared<Program>(NormalizeSource(source));
  STRATA_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(program->source, program->map));
  STRATA_ASSIGN_OR_RETURN(program->body, jinja::Parse(tokens, program->map));
  program->fresh = AnalyzeFrames(program->body);
  return Template(std::move(program));
}

StatusOr<std::string> Template::Render(const Context& context, const RenderOptions& options) const {
  Renderer renderer(program_->map, options);
  return renderer.Render(program_->body, program_->fresh, context);
}

}  // namespace strata::jinja
