// Parses byte counts given on the command line or in a config file: "1048576", "512M",
// "12G", "1.5T" (binary units; "GiB"/"GB" spellings accepted), and writes them back for
// messages. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/util/status.h"

namespace strata {

// kInvalidArgument naming `flag` for anything that is not a non-negative size.
StatusOr<size_t> ParseByteSize(std::string_view flag, std::string_view text);

// "512 B", "3.50 MiB", "12.00 GiB": the largest binary unit the size reaches, two decimals.
std::string FormatByteSize(size_t bytes);

}  // namespace strata
