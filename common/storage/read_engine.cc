// The read errors that ExtentReader's engines report (see read_engine.h).
#include "common/storage/read_engine.h"

#include <cerrno>
#include <cstring>

namespace strata {

Status ReadError(const std::string& path, uint64_t offset, int err) {
  std::string msg =
      "reading " + path + " at offset " + std::to_string(offset) + ": " + std::strerror(err);
  if (err == EIO || err == ENODATA || err == EBADMSG) {
    return DataLoss(msg + "; the drive or file is damaged — check the disk, then re-create the " +
                    "pack with strata pack");
  }
  return Unavailable(msg);
}

Status EndOfFileError(const std::string& path, uint64_t offset) {
  return DataLoss("reading " + path + ": the file ends at offset " + std::to_string(offset) +
                  ", before the read's last byte; it was truncated — re-create the pack with " +
                  "strata pack");
}

}  // namespace strata
