// TempRoot (see temp_root.h).
#include "common/util/temp_root.h"

#include <cstdlib>

namespace strata {

std::string TempRoot() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/var/tmp";
}

}  // namespace strata
