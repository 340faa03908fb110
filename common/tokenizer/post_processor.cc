// Reads the post-processor's single-sequence template; see post_processor.h.
// Thread-safety: pure functions.
#include "common/tokenizer/post_processor.h"

#include <string>

namespace strata::tokenizer_internal {
namespace {

constexpr char kSupported[] =
    "; Strata supports TemplateProcessing, ByteLevel and a Sequence of them";

// The ids that TemplateProcessing's special_tokens gives the special token `name`.
StatusOr<std::vector<int32_t>> SpecialTokenIds(const Json& processor, const std::string& name,
                                               const JsonPath& at, const JsonPath& item_at) {
  STRATA_ASSIGN_OR_RETURN(const Json* table, RequireMember(processor, "special_tokens", at));
  const Json* entry = FindMember(*table, name.c_str());
  if (entry == nullptr) {
    return item_at.Invalid("names special token \"" + name + "\", which " + at.path() +
                           ".special_tokens does not define");
  }
  const JsonPath entry_at = at.Member("special_tokens").Member(name);
  STRATA_ASSIGN_OR_RETURN(const Json* ids, RequireMember(*entry, "ids", entry_at));
  if (!ids->is_array()) return entry_at.Member("ids").Invalid("must be an array of token ids");
  std::vector<int32_t> result;
  for (size_t i = 0; i < ids->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(int32_t id, ReadId((*ids)[i], entry_at.Member("ids").Element(i)));
    result.push_back(id);
  }
  return result;
}

StatusOr<PostProcessor> ParseTemplate(const Json& processor, const JsonPath& at) {
  const JsonPath single_at = at.Member("single");
  STRATA_ASSIGN_OR_RETURN(const Json* single, RequireMember(processor, "single", at));
  if (!single->is_array()) return single_at.Invalid("must be an array of template pieces");
  PostProcessor result;
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const Json& item = (*single)[i];
    const JsonPath item_at = single_at.Element(i);
    if (const Json* special = FindMember(item, "SpecialToken")) {
      STRATA_ASSIGN_OR_RETURN(std::string name,
                              RequireString(*special, "id", item_at.Member("SpecialToken")));
      STRATA_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                              SpecialTokenIds(processor, name, at, item_at));
      std::vector<int32_t>& side = seen_sequence ? result.suffix : result.prefix;
      side.insert(side.end(), ids.begin(), ids.end());
    } else if (const Json* sequence = FindMember(item, "Sequence")) {
      STRATA_ASSIGN_OR_RETURN(std::string id,
                              RequireString(*sequence, "id", item_at.Member("Sequence")));
      if (id != "A" || seen_sequence) {
        return item_at.Invalid("must be the only sequence of the single template, \"A\"");
      }
      seen_sequence = true;
    } else {
      return item_at.Invalid("must be {\"SpecialToken\": ...} or {\"Sequence\": ...}, got " +
                             Describe(item));
    }
  }
  if (!seen_sequence) return single_at.Invalid("has no {\"Sequence\": {\"id\": \"A\"}} piece");
  return result;
}

StatusOr<PostProcessor> ParseProcessor(const Json& node, const JsonPath& at) {
  STRATA_ASSIGN_OR_RETURN(std::string type, ComponentType(node, at));
  if (type == "ByteLevel") return PostProcessor{};  // changes offsets only
  if (type == "TemplateProcessing") return ParseTemplate(node, at);
  if (type != "Sequence")
    return at.Unsupported("type \"" + type + "\" is not supported" + kSupported);
  const JsonPath list_at = at.Member("processors");
  STRATA_ASSIGN_OR_RETURN(const Json* list, RequireMember(node, "processors", at));
  if (!list->is_array()) return list_at.Invalid("must be an array");
  PostProcessor result;
  for (size_t i = 0; i < list->size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(PostProcessor inner, ParseProcessor((*list)[i], list_at.Element(i)));
    inner.prefix.insert(inner.prefix.end(), result.prefix.begin(), result.prefix.end());
    result.prefix = std::move(inner.prefix);
    result.suffix.insert(result.suffix.end(), inner.suffix.begin(), inner.suffix.end());
  }
  return result;
}

}  // namespace

StatusOr<PostProcessor> ParsePostProcessor(const Json* node, const JsonPath& at) {
  if (node == nullptr) return PostProcessor{};
  return ParseProcessor(*node, at);
}

}  // namespace strata::tokenizer_internal
