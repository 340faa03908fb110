// Field access for tokenizer.json with errors that name the file and field; see json_fields.h.
// Thread-safety: pure functions.
#include "common/tokenizer/json_fields.h"

namespace strata::tokenizer_internal {

JsonPath JsonPath::Member(std::string_view key) const {
  return JsonPath(*source_, path_.empty() ? std::string(key) : path_ + "." + std::string(key));
}

JsonPath JsonPath::Element(size_t index) const {
  return JsonPath(*source_, path_ + "[" + std::to_string(index) + "]");
}

Status JsonPath::Invalid(std::string_view problem) const {
  return InvalidArgument(*source_ + ": " + path_ + " " + std::string(problem));
}

Status JsonPath::Unsupported(std::string_view problem) const {
  return Unimplemented(*source_ + ": " + path_ + " " + std::string(problem));
}

std::string Describe(const Json& value) {
  std::string s = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

const Json* FindMember(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

StatusOr<const Json*> RequireMember(const Json& object, const char* key, const JsonPath& at) {
  const Json* member = FindMember(object, key);
  if (member == nullptr) return at.Member(key).Invalid("is missing");
  return member;
}

StatusOr<std::string> RequireString(const Json& object, const char* key, const JsonPath& at) {
  STRATA_ASSIGN_OR_RETURN(const Json* member, RequireMember(object, key, at));
  if (!member->is_string()) {
    return at.Member(key).Invalid("must be a string, got " + Describe(*member));
  }
  return member->get<std::string>();
}

StatusOr<bool> OptionalBool(const Json& object, const char* key, bool fallback,
                            const JsonPath& at) {
  const Json* member = FindMember(object, key);
  if (member == nullptr) return fallback;
  if (!member->is_boolean()) {
    return at.Member(key).Invalid("must be true or false, got " + Describe(*member));
  }
  return member->get<bool>();
}

std::optional<int32_t> AsId(const Json& value) {
  if (!value.is_number_unsigned() || value.get<uint64_t>() > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(value.get<uint64_t>());
}

StatusOr<int32_t> ReadId(const Json& value, const JsonPath& at) {
  if (std::optional<int32_t> id = AsId(value)) return *id;
  return at.Invalid("must be a token id (an integer in [0, 2^31)), got " + Describe(value));
}

StatusOr<std::string> ComponentType(const Json& component, const JsonPath& at) {
  if (!component.is_object()) return at.Invalid("must be an object, got " + Describe(component));
  return RequireString(component, "type", at);
}

}  // namespace strata::tokenizer_internal
