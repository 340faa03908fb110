// The post-processor of tokenizer.json for single sequences: the ids that go before and after
// the encoded text when special tokens are added (Llama 3: <|begin_of_text|> before). Read from
// TemplateProcessing's "single" template; ByteLevel and null add nothing; a Sequence applies
// its processors in order, each wrapping the result of the previous. Private to the tokenizer.
// Thread-safety: a value.
#pragma once

#include <cstdint>
#include <vector>

#include "common/tokenizer/json_fields.h"
#include "common/util/status.h"

namespace strata::tokenizer_internal {

struct PostProcessor {
  std::vector<int32_t> prefix;
  std::vector<int32_t> suffix;
};

// `node` is tokenizer.json's "post_processor" (nullptr when null or absent). Other processor
// types are kUnimplemented naming the type.
StatusOr<PostProcessor> ParsePostProcessor(const Json* node, const JsonPath& at);

}  // namespace strata::tokenizer_internal
