// A raw TCP client of an HTTP server on 127.0.0.1, for tests that need what an HTTP library
// hides: each request sent in one write (no Nagle delay of the client's own), pipelined
// requests, a body that stalls, a connection closed or reset mid-request. Every wait is
// bounded (kClientTimeout), so a broken server fails a test instead of hanging it.
// Thread-safety: one thread per client.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace strata::testing {

inline constexpr std::chrono::seconds kClientTimeout{5};

// A raw TCP connection to 127.0.0.1:port; its bytes read past one response are kept for the
// next.
class RawHttpClient {
 public:
  explicit RawHttpClient(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawHttpClient() { Close(); }
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  bool connected() const { return connected_; }

  // One send call: the whole of `bytes` in one write.
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

  struct Response {
    int status = 0;  // 0: none (timeout or the connection closed first)
    std::string headers;
    std::string body;
  };

  // Reads one response with a Content-Length (httplib always sends one here).
  Response Read() {
    Response response;
    size_t header_end;
    while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return response;
    }
    response.headers = pending_.substr(0, header_end + 4);
    const size_t length_at = response.headers.find("Content-Length: ");
    const size_t length = length_at == std::string::npos
                              ? 0
                              : std::strtoul(response.headers.c_str() + length_at + 16,
                                             nullptr, 10);
    while (pending_.size() < header_end + 4 + length) {
      if (!Fill()) return response;
    }
    response.body = pending_.substr(header_end + 4, length);
    pending_.erase(0, header_end + 4 + length);
    response.status = std::atoi(response.headers.c_str() + 9);  // "HTTP/1.1 200 OK"
    return response;
  }

  // Whether the server closes the connection (EOF or reset) within the client timeout,
  // with nothing more sent.
  bool ClosedByServer() {
    while (pending_.empty()) {
      if (!Fill()) return eof_;
    }
    return false;
  }

  // Closes with a FIN, or with a reset when `reset` (SO_LINGER 0).
  void Close(bool reset = false) {
    if (fd_ < 0) return;
    if (reset) {
      const linger abort{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
    }
    ::close(fd_);
    fd_ = -1;
  }

 private:
  // Appends what arrives within the client timeout; false on timeout, EOF or error.
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kClientTimeout).count())) <=
        0) {
      return false;
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  bool eof_ = false;
  std::string pending_;
};

}  // namespace strata::testing
