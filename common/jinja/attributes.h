// Attribute and item access as jinja2's immutable sandbox does it: `obj.name` tries the
// object's attribute (a str/dict/list method, a namespace attribute) and then `obj['name']`;
// `obj[key]` tries the item and then, for a string key, the attribute. Missing ones are
// Undefined carrying jinja2's message ("'dict object' has no attribute 'x'"); methods that
// would mutate (list.append, dict.update, ...) are undefined values that fail when called.
// Accessing anything on an undefined value is an error. Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/jinja/value.h"
#include "common/util/status.h"

namespace strata::jinja {

StatusOr<Value> GetAttr(const Value& obj, const std::string& name);
StatusOr<Value> GetItem(const Value& obj, const Value& key);
// obj[start:stop:step] with Python's slice rules; each bound may be None.
StatusOr<Value> GetSlice(const Value& obj, const Value& start, const Value& stop,
                         const Value& step);

// jinja2's attribute getter for filters (`map(attribute='a.b')`, `sort(attribute=...)`):
// item access along a dotted path, where all-digit parts are integer indexes.
StatusOr<Value> GetAttributePath(const Value& obj, std::string_view path);

// A bound method of a str, dict or list (or the undefined standing for a mutating one);
// nullopt when the type has no such method.
std::optional<Value> BoundMethod(const Value& obj, std::string_view name);

}  // namespace strata::jinja
