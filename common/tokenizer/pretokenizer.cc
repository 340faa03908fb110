// Reads and runs the byte-level pre-tokenizer; see pretokenizer.h. Thread-safety: immutable
// after FromJson.
#include "common/tokenizer/pretokenizer.h"

#include <string>
#include <utility>

namespace strata::tokenizer_internal {
namespace {

constexpr char kSupported[] =
    "; Strata supports a ByteLevel pre-tokenizer, alone or last in a Sequence after Split "
    "pre-tokenizers";

}  // namespace

StatusOr<PreTokenizer> PreTokenizer::FromJson(const Json* node, const JsonPath& at) {
  if (node == nullptr) return at.Unsupported(std::string("is null") + kSupported);
  STRATA_ASSIGN_OR_RETURN(std::string type, ComponentType(*node, at));
  PreTokenizer pre;
  if (type == "ByteLevel") {
    STRATA_ASSIGN_OR_RETURN(Stage stage, ByteLevelStage(*node, at));
    pre.stages_.push_back(std::move(stage));
    return pre;
  }
  if (type != "Sequence")
    return at.Unsupported("type \"" + type + "\" is not supported" + kSupported);
  const JsonPath list_at = at.Member("pretokenizers");
  STRATA_ASSIGN_OR_RETURN(const Json* list, RequireMember(*node, "pretokenizers", at));
  if (!list->is_array() || list->empty()) return list_at.Invalid("must be a non-empty array");
  for (size_t i = 0; i < list->size(); ++i) {
    const JsonPath item_at = list_at.Element(i);
    STRATA_ASSIGN_OR_RETURN(std::string item_type, ComponentType((*list)[i], item_at));
    const bool last = i + 1 == list->size();
    if (item_type == "Split" && !last) {
      STRATA_ASSIGN_OR_RETURN(Stage stage, SplitStage((*list)[i], item_at));
      pre.stages_.push_back(std::move(stage));
    } else if (item_type == "ByteLevel" && last) {
      STRATA_ASSIGN_OR_RETURN(Stage stage, ByteLevelStage((*list)[i], item_at));
      pre.stages_.push_back(std::move(stage));
    } else {
      return item_at.Unsupported("type \"" + item_type + "\" is not supported at this position" +
                                 kSupported);
    }
  }
  return pre;
}

StatusOr<PreTokenizer::Stage> PreTokenizer::SplitStage(const Json& node, const JsonPath& at) {
  STRATA_ASSIGN_OR_RETURN(std::string behavior, RequireString(node, "behavior", at));
  if (behavior != "Isolated") {
    return at.Member("behavior")
        .Unsupported("\"" + behavior +
                     "\" is not supported; Strata "
                     "supports Split with behavior \"Isolated\"");
  }
  STRATA_ASSIGN_OR_RETURN(bool invert, OptionalBool(node, "invert", false, at));
  if (invert) return at.Member("invert").Unsupported("true is not supported");
  const JsonPath pattern_at = at.Member("pattern");
  STRATA_ASSIGN_OR_RETURN(const Json* pattern, RequireMember(node, "pattern", at));
  const Json* regex = FindMember(*pattern, "Regex");
  const Json* literal = FindMember(*pattern, "String");
  const Json* text = regex != nullptr ? regex : literal;
  if (text == nullptr || !text->is_string()) {
    return pattern_at.Invalid("must be {\"Regex\": string} or {\"String\": string}, got " +
                              Describe(*pattern));
  }
  auto compiled = Regex::Compile(text->get<std::string>(), /*literal=*/regex == nullptr);
  if (!compiled.ok()) return pattern_at.Invalid(compiled.status().message());
  Stage stage;
  stage.regex = std::move(compiled).value();
  return stage;
}

StatusOr<PreTokenizer::Stage> PreTokenizer::ByteLevelStage(const Json& node, const JsonPath& at) {
  // HF's defaults for a ByteLevel written without these fields.
  STRATA_ASSIGN_OR_RETURN(bool add_prefix_space, OptionalBool(node, "add_prefix_space", true, at));
  STRATA_ASSIGN_OR_RETURN(bool use_regex, OptionalBool(node, "use_regex", true, at));
  Stage stage;
  stage.add_prefix_space = add_prefix_space;
  if (use_regex) {
    STRATA_ASSIGN_OR_RETURN(stage.regex, Regex::Compile(kGpt2SplitPattern, /*literal=*/false));
  }
  return stage;
}

Status PreTokenizer::Split(std::string_view text, const PieceSink& sink) const {
  if (text.empty()) return OkStatus();
  return RunStage(0, text, sink);
}

Status PreTokenizer::RunStage(size_t index, std::string_view piece, const PieceSink& sink) const {
  if (index == stages_.size()) return sink(piece);
  const Stage& stage = stages_[index];
  std::string prefixed;
  if (stage.add_prefix_space && piece.front() != ' ') {
    prefixed.reserve(piece.size() + 1);
    prefixed.push_back(' ');
    prefixed.append(piece);
    piece = prefixed;
  }
  if (!stage.regex) return RunStage(index + 1, piece, sink);
  return stage.regex->SplitIsolated(
      piece, [&](std::string_view sub) { return RunStage(index + 1, sub, sink); });
}

}  // namespace strata::tokenizer_internal
