// A scanner over valid JSON that tracks the path of containers (see json_lines.h).
#include "common/plan/json_lines.h"

#include <vector>

namespace strata {
namespace {

struct Container {
  bool is_object = false;
  std::string path;
  std::string key;     // the member being read (objects)
  size_t index = 0;    // the element being read (arrays)
  bool want_key = false;
};

// The path of the value about to start inside `c`.
std::string ChildPath(const Container& c) {
  if (c.is_object) return c.path.empty() ? c.key : c.path + "." + c.key;
  return c.path + "[" + std::to_string(c.index) + "]";
}

}  // namespace

std::map<std::string, int> JsonMemberLines(std::string_view text) {
  std::map<std::string, int> lines;
  std::vector<Container> stack;
  int line = 1;
  bool value_started = false;  // the current array element was recorded
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') ++line;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ':') continue;
    if (!stack.empty() && !stack.back().is_object && !value_started && c != ']' && c != ',') {
      lines.emplace(ChildPath(stack.back()), line);
      value_started = true;
    }
    if (c == '"') {
      const size_t start = ++i;
      while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      if (!stack.empty() && stack.back().is_object && stack.back().want_key) {
        stack.back().key = std::string(text.substr(start, i - start));
        stack.back().want_key = false;
        lines.emplace(ChildPath(stack.back()), line);
      }
    } else if (c == '{' || c == '[') {
      const std::string path = stack.empty() ? "" : ChildPath(stack.back());
      stack.push_back({c == '{', path, "", 0, c == '{'});
      value_started = false;
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
      value_started = true;
    } else if (c == ',' && !stack.empty()) {
      if (stack.back().is_object) {
        stack.back().want_key = true;
      } else {
        ++stack.back().index;
        value_started = false;
      }
    }
  }
  return lines;
}

std::string LineColumn(std::string_view text, size_t offset) {
  int line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace strata
