// STRATA_CHECK: abort with file:line on a broken invariant (a bug, never bad input: bad
// input returns a Status). Thread-safety: safe from any thread.
#pragma once

namespace strata::internal {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line, const char* msg);
}  // namespace strata::internal

#define STRATA_CHECK(cond)                                                       \
  do {                                                                           \
    if (!(cond)) ::strata::internal::CheckFailed(#cond, __FILE__, __LINE__, ""); \
  } while (0)

#define STRATA_CHECK_MSG(cond, msg)                                                \
  do {                                                                             \
    if (!(cond)) ::strata::internal::CheckFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
