// JSON in and out of the interpreter: nlohmann::json to Value (objects keep their key order),
// and Value to text exactly as Python's json.dumps writes it (the `tojson` filter that
// transformers installs). Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

// Objects become dicts in document order (parse with nlohmann::ordered_json to keep it);
// integers beyond int64 become floats.
Value FromJson(const nlohmann::ordered_json& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  // None: one line. A number of spaces, or the indent text itself.
  std::optional<std::string> indent;
  // (item separator, key separator); default ", " and ": ", or "," and ": " with an indent.
  std::optional<std::pair<std::string, std::string>> separators;
  bool sort_keys = false;
};

// json.dumps(value, ...). Undefined, namespaces and functions are the TypeError Python raises
// ("Object of type Undefined is not JSON serializable").
StatusOr<std::string> DumpJson(const Value& value, const JsonDumpOptions& options);

}  // namespace strata::jinja
