// Crash-safe file primitives for the pack writer: write a whole file and fsync it, fsync a
// file or directory, and swap a finished directory into place. Errors name the path and the
// errno text. Thread-safety: functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include "common/util/status.h"

namespace strata {

// An errno as a Status: "<what> <path>: <strerror>" (kNotFound for ENOENT, kResourceExhausted
// for ENOSPC/EDQUOT, kFailedPrecondition for EACCES/EPERM/EROFS, else kInternal).
Status ErrnoError(std::string_view what, const std::string& path, int err);

// Creates or truncates `path`, writes `bytes`, fsyncs and closes it.
Status WriteFileDurably(const std::string& path, std::string_view bytes);

// fsync(2) on a file or directory.
Status SyncPath(const std::string& path);

// Puts the finished directory `from` at `to` and fsyncs their parent. When `to` exists it
// is exchanged atomically where the file system supports it (renameat2 RENAME_EXCHANGE),
// else renamed away to `to.old-<pid>` first; the old directory is then deleted.
Status ReplaceDirectory(const std::string& from, const std::string& to, bool to_exists);

}  // namespace strata
