// A parsed Jinja template and its rendering: the interpreter's entry point. Parse once, then
// Render with a context (the template's variables) as often as needed; errors are
// kInvalidArgument "line L, column C: message" (kResourceExhausted for the limits in
// RenderOptions). Thread-safety: a Template is immutable; Render may run concurrently.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

struct RenderOptions {
  // strftime_now() formats this time instead of reading the local clock (tests).
  std::optional<std::tm> fixed_now;
  size_t max_output_bytes = size_t{64} << 20;
  int64_t max_loop_iterations = 1'000'000;  // over the whole render
  int max_depth = 400;                      // nesting of statements, expressions and macro calls
};

// The template's variables, in addition to the globals (range, dict, namespace,
// raise_exception, strftime_now).
using Context = std::vector<std::pair<std::string, Value>>;

class Template {
 public:
  static StatusOr<Template> Parse(std::string_view source);

  StatusOr<std::string> Render(const Context& context, const RenderOptions& options = {}) const;

 private:
  struct Program;
  explicit Template(std::shared_ptr<const Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const Program> program_;
};

}  // namespace strata::jinja
