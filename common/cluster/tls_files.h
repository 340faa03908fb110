// TLS material for the control plane (gRPC) and the HTTP API: PEM files read once at start-up
// and checked there, so a missing, unreadable or mismatched file is a clear error before
// anything listens, never a server that silently fails its handshakes.
// Thread-safety: functions without shared state.
#pragma once

#include <string>

#include "common/util/status.h"

namespace strata::cluster {

// One side's TLS material, PEM text. A server has cert and key, and ca when it requires
// client certificates (mutual TLS); a client has ca (to verify the server), and cert and key
// when it presents one of its own.
struct TlsPems {
  std::string cert;  // its certificate chain, leaf first ("": none)
  std::string key;   // the certificate's private key
  std::string ca;    // certificates that verify the peer ("": the peer is not verified)
};

// Reads the files given ("" for a part not used). `flag` is the flags' common prefix for
// messages ("--tls": --tls-cert, --tls-key, --tls-ca). Errors (kInvalidArgument or the file
// read's) name the flag and the path: a file that cannot be read, one without a PEM
// certificate (cert, ca) or private key (key), a key that does not belong to the certificate,
// a certificate without its key or a key without its certificate.
StatusOr<TlsPems> LoadTlsFiles(const std::string& flag, const std::string& cert_path,
                               const std::string& key_path, const std::string& ca_path);

}  // namespace strata::cluster
