// Field access for tokenizer.json whose errors name the file and the field path, e.g.
// "/m/tokenizer.json: model.merges[3] names token \"x\", which is not in model.vocab".
// Private to the tokenizer. Thread-safety: values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/util/status.h"

namespace strata::tokenizer_internal {

using Json = nlohmann::json;

// Where a JSON value sits: the source file and a dotted path from the root.
class JsonPath {
 public:
  JsonPath(const std::string& source, std::string path)
      : source_(&source), path_(std::move(path)) {}

  JsonPath Member(std::string_view key) const;
  JsonPath Element(size_t index) const;
  const std::string& path() const { return path_; }

  // InvalidArgument "<source>: <path> <problem>".
  Status Invalid(std::string_view problem) const;
  // Unimplemented "<source>: <path> <problem>".
  Status Unsupported(std::string_view problem) const;

 private:
  const std::string* source_;
  std::string path_;
};

// A JSON value for a message, cut short when long.
std::string Describe(const Json& value);

// The member `key` of `object`; nullptr when `object` is not an object or the member is
// absent or null.
const Json* FindMember(const Json& object, const char* key);

// The member `key` of the object at `at`, which must be present and not null.
StatusOr<const Json*> RequireMember(const Json& object, const char* key, const JsonPath& at);

StatusOr<std::string> RequireString(const Json& object, const char* key, const JsonPath& at);

// A boolean member; `fallback` when absent or null.
StatusOr<bool> OptionalBool(const Json& object, const char* key, bool fallback, const JsonPath& at);

// A token id: an integer in [0, 2^31). AsId is nullopt for anything else.
std::optional<int32_t> AsId(const Json& value);
StatusOr<int32_t> ReadId(const Json& value, const JsonPath& at);

// The "type" member of a component object such as the pre-tokenizer.
StatusOr<std::string> ComponentType(const Json& component, const JsonPath& at);

}  // namespace strata::tokenizer_internal
