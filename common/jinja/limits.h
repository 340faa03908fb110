// Size limits that keep a runaway template (or input) from exhausting memory: strings and
// lists the interpreter builds, and range(). Render-wide limits (output size, loop
// iterations, call depth) are RenderOptions. Thread-safety: constants.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::jinja {

inline constexpr size_t kMaxStringBytes = size_t{64} << 20;
inline constexpr size_t kMaxListItems = size_t{1} << 22;
// jinja2's sandbox refuses larger ranges (MAX_RANGE).
inline constexpr int64_t kMaxRange = 100000;

}  // namespace strata::jinja
