// TLS for the HTTP API on OpenSSL: a server context built once from the PEMs checked at
// start-up (cluster::LoadTlsFiles), and one TLS session per accepted connection over its
// non-blocking socket. Reads and writes never block: they say which poll event to wait for,
// so HttpServer's connection stream keeps its own timeouts and stop checks.
// Thread-safety: a TlsServerContext is immutable once made and shared by every connection;
// a TlsConnection is used by the one thread serving its connection.
#pragma once

#include <openssl/ssl.h>

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/cluster/tls_files.h"
#include "common/util/status.h"

namespace strata::coordinator {

class TlsServerContext {
 public:
  // TLS 1.2 or later with `pems.cert` and `pems.key`; with `pems.ca`, clients must present a
  // certificate it verifies. kInvalidArgument (naming `flag`, e.g. "--http-tls") when OpenSSL
  // refuses the material.
  static StatusOr<std::shared_ptr<const TlsServerContext>> Create(const cluster::TlsPems& pems,
                                                                  const std::string& flag);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  SSL_CTX* get() const { return ctx_; }
  bool verifies_clients() const { return verifies_clients_; }

 private:
  TlsServerContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool verifies_clients_ = false;
};

class TlsConnection {
 public:
  // Runs the server side of the handshake on `sock` (made non-blocking here), waiting up to
  // `timeout` in all. kUnavailable with OpenSSL's reason when the client fails it (a plain
  // HTTP request, an untrusted or missing client certificate, a timeout).
  static StatusOr<std::unique_ptr<TlsConnection>> Accept(const TlsServerContext& context, int sock,
                                                         std::chrono::milliseconds timeout);
  ~TlsConnection();  // frees the session; the socket stays the caller's
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // Like recv/send with MSG_DONTWAIT: bytes moved (> 0), 0 at the peer's close, -1 otherwise,
  // with `wait` set to the poll event (POLLIN or POLLOUT) to wait for before trying again, or
  // to 0 when the connection failed.
  ssize_t Read(char* into, size_t capacity, short& wait);
  ssize_t Write(const char* from, size_t size, short& wait);
  // Decrypted bytes OpenSSL holds that Read returns without touching the socket.
  bool HasBuffered() const;
  // Sends close_notify if the socket takes it at once (never waits).
  void Shutdown();

 private:
  explicit TlsConnection(SSL* ssl) : ssl_(ssl) {}
  // The wait for an SSL_* result `rc` (see Read); sets failed_ when there is none.
  short WaitFor(int rc);

  SSL* ssl_;
  bool failed_ = false;  // a fatal error: no more I/O, no close_notify
};

}  // namespace strata::coordinator
