// Whether a draft model can propose tokens for a target (speculative decoding): the same
// vocabulary, ids and tokenization — checked on the configs' vocabulary sizes, the
// tokenizers' and a probe text's ids (plain, multilingual, code, special tokens).
// Thread-safety: a pure function over loaded directories.
#pragma once

#include "common/loader/model_directory.h"
#include "common/util/status.h"

namespace strata {

// kInvalidArgument naming both directories and the first difference.
Status CheckDraftCompatible(const ModelDirectory& target, const ModelDirectory& draft);

}  // namespace strata
