// manifest.json to and from PackManifest. Parsing checks the JSON's shape (fields present
// with the right types, known format, version and dtypes) and the embedded model config;
// the extents' offsets and shapes are checked against each other by ValidatePackManifest
// (pack_validate.h). Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/storage/pack_format.h"
#include "common/util/status.h"

namespace strata {

// The manifest as JSON text (see pack_format.h for the fields).
std::string PackManifestToJson(const PackManifest& manifest);

// `where` names the pack in errors ("pack /data/p"). Errors: not JSON or a field missing or
// of the wrong type (kDataLoss); another format or version (kInvalidArgument); an invalid
// config (ParseModelConfig's error).
StatusOr<PackManifest> ParsePackManifest(std::string_view text, const std::string& where);

}  // namespace strata
