// Owning handles for the OpenSSL objects PEM text is read into (a memory BIO, a certificate,
// a private key), shared by the start-up checks of TLS files and the HTTP API's TLS context.
// Thread-safety: plain owning pointers.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace strata::cluster {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;
using PrivateKey = std::unique_ptr<EVP_PKEY, KeyFree>;

// A read-only BIO over `pem`, which must outlive it.
inline Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first private key of `pem`, or null.
inline PrivateKey ReadPrivateKey(const std::string& pem) {
  Bio bio = MemoryBio(pem);
  return PrivateKey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace strata::cluster
