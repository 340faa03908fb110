// LoadTlsFiles (see tls_files.h), checked with OpenSSL's PEM parsers.
#include "common/cluster/tls_files.h"

#include "common/cluster/pem_handles.h"
#include "common/util/file.h"

namespace strata::cluster {
namespace {

// The first certificate of `pem`, or null.
Certificate FirstCertificate(const std::string& pem) {
  Bio bio = MemoryBio(pem);
  return Certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return Status(text.status().code(), flag + " " + path + ": " + text.status().message());
  }
  return text;
}

}  // namespace

StatusOr<TlsPems> LoadTlsFiles(const std::string& flag, const std::string& cert_path,
                               const std::string& key_path, const std::string& ca_path) {
  const std::string cert_flag = flag + "-cert", key_flag = flag + "-key", ca_flag = flag + "-ca";
  if (cert_path.empty() != key_path.empty()) {
    return InvalidArgument(cert_path.empty() ? key_flag + " needs " + cert_flag + " (its certificate)"
                                             : cert_flag + " needs " + key_flag + " (its private key)");
  }
  TlsPems pems;
  if (!cert_path.empty()) {
    STRATA_ASSIGN_OR_RETURN(pems.cert, ReadPem(cert_flag, cert_path));
    STRATA_ASSIGN_OR_RETURN(pems.key, ReadPem(key_flag, key_path));
    const auto cert = FirstCertificate(pems.cert);
    if (cert == nullptr) {
      return InvalidArgument(cert_flag + " " + cert_path + " holds no PEM certificate "
                             "(-----BEGIN CERTIFICATE-----)");
    }
    const PrivateKey key = ReadPrivateKey(pems.key);
    if (key == nullptr) {
      return InvalidArgument(key_flag + " " + key_path + " holds no unencrypted PEM private key "
                             "(-----BEGIN PRIVATE KEY-----)");
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      return InvalidArgument(key_flag + " " + key_path + " is not the private key of " + cert_flag +
                             " " + cert_path);
    }
  }
  if (!ca_path.empty()) {
    STRATA_ASSIGN_OR_RETURN(pems.ca, ReadPem(ca_flag, ca_path));
    if (FirstCertificate(pems.ca) == nullptr) {
      return InvalidArgument(ca_flag + " " + ca_path + " holds no PEM certificate "
                             "(-----BEGIN CERTIFICATE-----)");
    }
  }
  return pems;
}

}  // namespace strata::cluster
