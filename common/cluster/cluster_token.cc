// ReadTokenFile and TokensEqual (see cluster_token.h).
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

bool TokensEqual(std::string_view a, std::string_view b) {
  unsigned diff = static_cast<unsigned>(a.size() ^ b.size());
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace strata::cluster
