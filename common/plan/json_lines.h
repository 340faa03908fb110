// Line numbers of the members of a JSON text, so that errors about a field can say where
// it is ("cluster.json:14: workers[2].ssd_gbps: ..."). nlohmann::json keeps no positions.
// Thread-safety: pure function.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace strata {

// Maps the path of every object member and array element ("workers", "workers[2]",
// "workers[2].ssd_gbps") to the 1-based line where it starts. `text` must be valid JSON
// (parse it first); members of a malformed text may be missing.
std::map<std::string, int> JsonMemberLines(std::string_view text);

// The 1-based "line:column" of byte `offset` in `text`.
std::string LineColumn(std::string_view text, size_t offset);

}  // namespace strata
