// httplib::Server with a persistent per-connection stream (see http_server.h).
#include "coordinator/http_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "coordinator/socket_poll.h"

namespace strata::coordinator {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReadBufferBytes = 16 * 1024;
// How often an idle connection looks whether the server is stopping: the most an idle
// connection can delay stop().
constexpr milliseconds kIdleSlice{50};

milliseconds ToMillis(time_t sec, time_t usec) {
  return std::chrono::seconds(sec) +
         std::chrono::ceil<milliseconds>(std::chrono::microseconds(usec));
}

// The numeric host and port of a socket address ("", 0 if it has none).
void NumericAddress(const sockaddr_storage& address, socklen_t length, std::string& host,
                    int& port) {
  std::array<char, NI_MAXHOST> host_buffer{};
  std::array<char, NI_MAXSERV> port_buffer{};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host_buffer.data(),
                    host_buffer.size(), port_buffer.data(), port_buffer.size(),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return;
  }
  host = host_buffer.data();
  port = std::atoi(port_buffer.data());
}

// "HOST:PORT" of the peer of `sock`, for messages.
std::string PeerOf(int sock) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  std::string host = "?";
  int port = 0;
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    NumericAddress(address, length, host, port);
  }
  return host + ":" + std::to_string(port);
}

// One connection's stream, kept for all of its requests: the bytes read past the end of one
// request (a pipelined next request) stay in the buffer for the next. Reads and writes wait
// with poll, up to the server's read and write timeouts. Over TLS (`tls` not null) the bytes
// go through the connection's TLS session. Used only by the thread serving the connection.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, TlsConnection* tls, milliseconds read_timeout,
                   milliseconds write_timeout)
      : sock_(sock), tls_(tls), read_timeout_(read_timeout), write_timeout_(write_timeout) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (::getpeername(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      NumericAddress(address, length, remote_host_, remote_port_);
    }
    length = sizeof(address);
    if (::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      NumericAddress(address, length, local_host_, local_port_);
    }
  }

  // Waits up to `timeout` for the first byte of the next request (bytes already buffered
  // count) or for the peer to close. False on timeout or once `server_socket` is invalid
  // (the server is stopping), which is looked at every kIdleSlice.
  bool WaitForRequest(milliseconds timeout, const std::atomic<socket_t>& server_socket) {
    const Clock::time_point deadline = Clock::now() + timeout;
    for (;;) {
      if (server_socket == INVALID_SOCKET) return false;
      if (Buffered()) return true;
      const milliseconds left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
      const int revents = PollFor(sock_, POLLIN, std::clamp(left, milliseconds(0), kIdleSlice));
      if (revents != 0) return revents > 0;  // data, EOF or an error: the read will tell
      if (left <= kIdleSlice) return false;
    }
  }

  // Starts a request: ReadTimedOut is per request.
  void BeginRequest() { read_timed_out_ = false; }
  bool read_timed_out() const { return read_timed_out_; }
  // False once a read or write failed or met EOF: what is left of the last request may still
  // be unread, so the connection cannot carry another.
  bool reusable() const { return !failed_; }

  // See HttpServer::ClientGone.
  bool PeerGone() const {
    if (Buffered()) return false;  // a pipelined request, read already
    pollfd p{sock_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if ((p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) return true;
    // Waiting bytes are TLS records (a request, or the client's close_notify): a client that
    // has shut its side of the connection has gone.
    if (tls_ != nullptr) return (p.revents & POLLRDHUP) != 0;
    char byte;
    const ssize_t n = ::recv(sock_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;  // a pipelined request, not read yet
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  }

  bool is_readable() const override {
    return Buffered() || PollFor(sock_, POLLIN, read_timeout_) > 0;
  }

  bool is_writable() const override {
    return PollFor(sock_, POLLOUT, write_timeout_) > 0 && !PeerGone();
  }

  // Returns up to `size` bytes: buffered ones first, else one receive (into the buffer, or
  // straight into `ptr` for a large read). -1 on timeout or error, 0 at EOF.
  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (begin_ == end_) {
      if (size >= buffer_.size()) return Receive(ptr, size);
      const ssize_t n = Receive(buffer_.data(), buffer_.size());
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_.data() + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  // Writes all of `size` bytes (or fails: -1), waiting up to the write timeout whenever the
  // socket's send buffer is full. MSG_NOSIGNAL: a peer that has gone fails the write with
  // EPIPE instead of killing the process with SIGPIPE.
  ssize_t write(const char* ptr, size_t size) override {
    size_t sent = 0;
    while (sent < size) {
      short wait = 0;
      const ssize_t n = SendSome(ptr + sent, size - sent, wait);
      if (n >= 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (wait == 0 || PollFor(sock_, wait, write_timeout_) <= 0) {
        failed_ = true;
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_host_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_host_;
    port = local_port_;
  }
  socket_t socket() const override { return sock_; }

 private:
  // Bytes already read off the socket and not yet returned.
  bool Buffered() const { return begin_ < end_ || (tls_ != nullptr && tls_->HasBuffered()); }

  // One receive into `into`, waiting up to the read timeout for data.
  ssize_t Receive(char* into, size_t capacity) {
    for (;;) {
      short wait = 0;
      const ssize_t n = ReceiveSome(into, capacity, wait);
      if (n > 0) return n;
      if (n == 0) {
        failed_ = true;
        return 0;
      }
      if (wait == 0) break;
      const int revents = PollFor(sock_, wait, read_timeout_);
      if (revents == 0) read_timed_out_ = true;
      if (revents <= 0) break;
    }
    failed_ = true;
    return -1;
  }

  // One non-blocking receive or send, as TlsConnection::Read and Write: bytes moved, 0 at
  // EOF (receive), or -1 with the poll event to wait for (0: failed).
  ssize_t ReceiveSome(char* into, size_t capacity, short& wait) {
    if (tls_ != nullptr) return tls_->Read(into, capacity, wait);
    const ssize_t n = ::recv(sock_, into, capacity, MSG_DONTWAIT);
    wait = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? POLLIN : 0;
    return n;
  }
  ssize_t SendSome(const char* from, size_t size, short& wait) {
    if (tls_ != nullptr) return tls_->Write(from, size, wait);
    const ssize_t n = ::send(sock_, from, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    wait = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? POLLOUT : 0;
    return n;
  }

  const int sock_;
  TlsConnection* const tls_;  // null: plain TCP
  const milliseconds read_timeout_;
  const milliseconds write_timeout_;
  std::array<char, kReadBufferBytes> buffer_;  // bytes received; [begin_, end_) not yet read
  size_t begin_ = 0;
  size_t end_ = 0;
  bool read_timed_out_ = false;
  bool failed_ = false;
  std::string remote_host_;
  int remote_port_ = 0;
  std::string local_host_;
  int local_port_ = 0;
};

// The connection served on this thread, for ReadTimedOut and ClientGone.
thread_local const ConnectionStream* t_connection = nullptr;

class ServingConnection {
 public:
  explicit ServingConnection(const ConnectionStream& stream) { t_connection = &stream; }
  ~ServingConnection() { t_connection = nullptr; }
  ServingConnection(const ServingConnection&) = delete;
  ServingConnection& operator=(const ServingConnection&) = delete;
};

// httplib 0.11.4 reads the body of a POST, PUT or PATCH without Content-Length or
// Transfer-Encoding until the peer closes (swallowing pipelined requests, or failing after
// the read timeout); HTTP/1.1 says it has none (RFC 9112 §6.3).
void DeclareEmptyBody(httplib::Request& request) {
  if ((request.method == "POST" || request.method == "PUT" || request.method == "PATCH") &&
      !request.has_header("Content-Length") && !request.has_header("Transfer-Encoding")) {
    request.set_header("Content-Length", "0");
  }
}

}  // namespace

bool HttpServer::ReadTimedOut() {
  return t_connection != nullptr && t_connection->read_timed_out();
}

bool HttpServer::ClientGone() { return t_connection != nullptr && t_connection->PeerGone(); }

void HttpServer::UseTls(std::shared_ptr<const TlsServerContext> tls) { tls_ = std::move(tls); }

bool HttpServer::process_and_close_socket(socket_t sock) {
  const int one = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const milliseconds read_timeout = ToMillis(read_timeout_sec_, read_timeout_usec_);
  std::unique_ptr<TlsConnection> tls;
  if (tls_ != nullptr) {
    StatusOr<std::unique_ptr<TlsConnection>> accepted =
        TlsConnection::Accept(*tls_, sock, read_timeout);
    if (!accepted.ok()) {
      spdlog::info("HTTP API: closed the connection from {}: {}", PeerOf(sock),
                   accepted.status().message());
      ::close(sock);
      return false;
    }
    tls = std::move(accepted).value();
  }
  bool ok = false;
  {
    ConnectionStream stream(sock, tls.get(), read_timeout,
                            ToMillis(write_timeout_sec_, write_timeout_usec_));
    const ServingConnection serving(stream);
    // httplib calls setup_request once the request line and headers are parsed. A request
    // rejected before (400, 414, 416) leaves the stream at an unknown point: close.
    bool parsed = false;
    const std::function<void(httplib::Request&)> setup_request =
        [&parsed](httplib::Request& request) {
          parsed = true;
          DeclareEmptyBody(request);
        };
    const milliseconds keep_alive = std::chrono::seconds(keep_alive_timeout_sec_);
    for (size_t left = std::max<size_t>(keep_alive_max_count_, 1); left > 0; --left) {
      if (!stream.WaitForRequest(keep_alive, svr_sock_)) break;
      stream.BeginRequest();
      parsed = false;
      bool connection_closed = false;
      ok =
          process_request(stream, /*close_connection=*/left == 1, connection_closed, setup_request);
      if (!ok || !parsed || connection_closed || !stream.reusable()) break;
    }
  }
  if (tls != nullptr) tls->Shutdown();
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

}  // namespace strata::coordinator
