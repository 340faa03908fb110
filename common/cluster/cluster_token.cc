// ReadTokenFile (see cluster_token.h).
#include "common/cluster/cluster_token.h"

#include "common/util/file.h"

namespace strata::cluster {

StatusOr<std::string> ReadTokenFile(const std::string& path, std::string_view what) {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const size_t first = text.find_first_not_of(" \t\r\n");
  const size_t last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return InvalidArgument(std::string(what) + " file " + path +
                           " is empty; put one line of secret in it");
  }
  std::string token = text.substr(first, last - first + 1);
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return InvalidArgument(std::string(what) + " file " + path +
                             " holds whitespace or control characters inside the secret; it "
                             "must be one word");
    }
  }
  return token;
}

}  // namespace strata::cluster
