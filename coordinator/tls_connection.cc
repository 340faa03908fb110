// TlsServerContext and TlsConnection (see tls_connection.h) on OpenSSL 3.
#include "coordinator/tls_connection.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/cluster/pem_handles.h"
#include "coordinator/socket_poll.h"

namespace strata::coordinator {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What a client speaking plain HTTP to the TLS port is told before the connection closes.
constexpr std::string_view kPlainHttpBody =
    "this API is served over TLS: use https:// instead of http://\n";

std::string PlainHttpRefusal() {
  return "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
         "Content-Length: " + std::to_string(kPlainHttpBody.size()) + "\r\n\r\n" +
         std::string(kPlainHttpBody);
}

// How long, and how many bytes, a refused plain-HTTP client's request is read and dropped
// after the refusal, so that closing does not reset the connection (a close with unread
// input sends RST, which can discard the refusal before the client reads it).
constexpr milliseconds kRefusalLinger{500};
constexpr size_t kRefusalDrainBytes = size_t{1} << 20;

// Sends the refusal, ends this side's writes, then reads and drops what the client still
// sends until it closes (it was told Connection: close), the linger passes or the bound is hit.
void RefusePlainHttp(int sock) {
  const std::string refusal = PlainHttpRefusal();
  [[maybe_unused]] const ssize_t sent =
      ::send(sock, refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(sock, SHUT_WR);
  std::array<char, 4096> sink;
  size_t drained = 0;
  const Clock::time_point deadline = Clock::now() + kRefusalLinger;
  while (drained < kRefusalDrainBytes) {
    const milliseconds left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds(0) || PollFor(sock, POLLIN, left) <= 0) return;
    const ssize_t n = ::recv(sock, sink.data(), sink.size(), MSG_DONTWAIT);
    if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) return;  // closed or failed
    if (n > 0) drained += static_cast<size_t>(n);
  }
}

// OpenSSL's queued errors of this thread, oldest first, joined ("" if none); clears them.
std::string TakeErrors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    std::array<char, 256> text{};
    ERR_error_string_n(e, text.data(), text.size());
    if (!out.empty()) out += "; ";
    out += text.data();
  }
  return out;
}

// Calls `take` with each certificate of `pem` in order; false if there is none or `take` fails.
template <typename Take>
bool EachCertificate(const std::string& pem, Take take) {
  cluster::Bio bio = cluster::MemoryBio(pem);
  int count = 0;
  while (cluster::Certificate cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (!take(std::move(cert), count++)) return false;
  }
  ERR_clear_error();  // the end of the PEM text reads as an error
  return count > 0;
}

}  // namespace

StatusOr<std::shared_ptr<const TlsServerContext>> TlsServerContext::Create(
    const cluster::TlsPems& pems, const std::string& flag) {
  ERR_clear_error();
  std::shared_ptr<TlsServerContext> context(new TlsServerContext());
  context->ctx_ = SSL_CTX_new(TLS_server_method());
  if (context->ctx_ == nullptr) return Internal("SSL_CTX_new: " + TakeErrors());
  SSL_CTX* ctx = context->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A client that closes without close_notify reads as a close, as on a plain connection.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  const bool chain = EachCertificate(pems.cert, [&](cluster::Certificate cert, int index) {
    return index == 0 ? SSL_CTX_use_certificate(ctx, cert.get()) == 1
                      : SSL_CTX_add1_chain_cert(ctx, cert.get()) == 1;
  });
  if (!chain) {
    return InvalidArgument(flag + "-cert: OpenSSL refuses the certificate chain: " + TakeErrors());
  }
  const cluster::PrivateKey key = cluster::ReadPrivateKey(pems.key);
  if (key == nullptr || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    return InvalidArgument(flag + "-key: OpenSSL refuses the private key: " + TakeErrors());
  }
  if (!pems.ca.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    const bool cas = EachCertificate(pems.ca, [&](cluster::Certificate cert, int) {
      return X509_STORE_add_cert(store, cert.get()) == 1 && SSL_CTX_add_client_CA(ctx, cert.get()) == 1;
    });
    if (!cas) {
      return InvalidArgument(flag + "-ca: OpenSSL refuses the CA certificates: " + TakeErrors());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    context->verifies_clients_ = true;
  }
  return std::shared_ptr<const TlsServerContext>(std::move(context));
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

StatusOr<std::unique_ptr<TlsConnection>> TlsConnection::Accept(const TlsServerContext& context,
                                                               int sock, milliseconds timeout) {
  ERR_clear_error();
  const int flags = ::fcntl(sock, F_GETFL);
  if (flags < 0 || ::fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Unavailable(std::string("making the connection non-blocking: ") + std::strerror(errno));
  }
  SSL* ssl = SSL_new(context.get());
  if (ssl == nullptr) return Internal("SSL_new: " + TakeErrors());
  std::unique_ptr<TlsConnection> connection(new TlsConnection(ssl));
  if (SSL_set_fd(ssl, sock) != 1) return Internal("SSL_set_fd: " + TakeErrors());
  const Clock::time_point deadline = Clock::now() + timeout;
  for (;;) {
    const int rc = SSL_accept(ssl);
    if (rc == 1) return connection;
    if (SSL_get_error(ssl, rc) == SSL_ERROR_SSL &&
        ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST) {
      ERR_clear_error();
      connection->failed_ = true;
      RefusePlainHttp(sock);
      return Unavailable("the client spoke plain HTTP to the TLS port (told to use https://)");
    }
    const short wait = connection->WaitFor(rc);
    if (wait == 0) {
      const std::string why = TakeErrors();
      return Unavailable("TLS handshake failed: " +
                         (why.empty() ? std::string("the client closed the connection") : why));
    }
    const milliseconds left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
    if (left <= milliseconds(0) || PollFor(sock, wait, left) <= 0) {
      connection->failed_ = true;
      return Unavailable("TLS handshake did not finish within " + std::to_string(timeout.count()) +
                         " ms");
    }
  }
}

TlsConnection::~TlsConnection() { SSL_free(ssl_); }

short TlsConnection::WaitFor(int rc) {
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ: return POLLIN;
    case SSL_ERROR_WANT_WRITE: return POLLOUT;
    case SSL_ERROR_SYSCALL:
      if (errno == EINTR) return POLLIN | POLLOUT;
      [[fallthrough]];
    default:
      failed_ = true;
      return 0;
  }
}

ssize_t TlsConnection::Read(char* into, size_t capacity, short& wait) {
  wait = 0;
  if (failed_) return -1;
  ERR_clear_error();
  size_t n = 0;
  const int rc = SSL_read_ex(ssl_, into, capacity, &n);
  if (rc == 1) return static_cast<ssize_t>(n);
  if (SSL_get_error(ssl_, rc) == SSL_ERROR_ZERO_RETURN) return 0;  // the client closed
  wait = WaitFor(rc);
  ERR_clear_error();
  return -1;
}

ssize_t TlsConnection::Write(const char* from, size_t size, short& wait) {
  wait = 0;
  if (failed_) return -1;
  ERR_clear_error();
  size_t n = 0;
  const int rc = SSL_write_ex(ssl_, from, size, &n);
  if (rc == 1) return static_cast<ssize_t>(n);
  wait = WaitFor(rc);
  ERR_clear_error();
  return -1;
}

bool TlsConnection::HasBuffered() const { return SSL_pending(ssl_) > 0; }

void TlsConnection::Shutdown() {
  if (failed_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

}  // namespace strata::coordinator
