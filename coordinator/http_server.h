// httplib::Server with its own keep-alive loop, fixing three defects of cpp-httplib 0.11.4
// (the Debian build the coordinator links) without leaving the library:
//  * pipelining: httplib makes a new SocketStream, and so a new read buffer, per request, so
//    the bytes of a pipelined request read along with the previous one are lost and the
//    client hangs; here one stream per connection keeps its buffer across requests, so
//    pipelined requests are answered in order;
//  * ~40 ms per request on a reused connection (Nagle holding the body back behind the
//    headers until the client's delayed ACK): accepted sockets get TCP_NODELAY;
//  * a stalled request body gets a 400: the stream records read timeouts, so an error handler
//    can answer 408 (ReadTimedOut). The connection is closed after a failed read or a
//    malformed request, which leave the stream at an unknown point.
// With UseTls, every connection is TLS (the handshake within the read timeout; a client
// speaking plain HTTP is told to use https://).
// Idle connections wait for their next request in short slices that watch for stop(), so
// stop() is never held up by keep-alive connections. A request with a body-carrying method
// and neither Content-Length nor Transfer-Encoding has an empty body (RFC 9112 §6.3) where
// httplib would read to EOF. Handlers can ask whether their client has gone (ClientGone).
// Thread-safety: as httplib::Server (configure, then listen on one thread; stop from any).
// Each connection is served on one pool thread; ReadTimedOut and ClientGone answer for the
// connection being served on the calling thread (false on any other thread).
#pragma once

#include <httplib.h>

#include <memory>

#include "coordinator/tls_connection.h"

namespace strata::coordinator {

class HttpServer : public httplib::Server {
 public:
  // Whether a read of the request being handled on this thread timed out (a stalled body,
  // for instance). Meant for the error handler, which then sees status 400.
  static bool ReadTimedOut();
  // Whether the client of the connection served on this thread has closed or reset it. A
  // pipelined request waiting to be read does not count as gone. A poll and at most a peek,
  // no allocation: cheap enough to call every few milliseconds while waiting for tokens.
  static bool ClientGone();

  // Serves over TLS with `tls`; call before listening.
  void UseTls(std::shared_ptr<const TlsServerContext> tls);

 private:
  // Called by httplib on a pool thread for each accepted connection; serves its requests
  // (at most keep_alive_max_count_) and closes it.
  bool process_and_close_socket(socket_t sock) override;

  std::shared_ptr<const TlsServerContext> tls_;  // null: plain HTTP
};

}  // namespace strata::coordinator
