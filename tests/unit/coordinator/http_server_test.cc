// HttpServer (http_server.h) on 127.0.0.1:0 with a raw POSIX socket client, each request
// sent in one write, so the client adds no Nagle delay of its own: pipelined requests are
// answered in order, a reused keep-alive connection is as fast as fresh ones, a stalled body
// gets 408, a malformed request closes the connection, a handler sees its client go (and a
// pipelined request is not that), and stop() does not wait for idle keep-alive connections.
#include "coordinator/http_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/raw_http_client.h"

namespace strata::coordinator {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using strata::testing::kClientTimeout;

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

using Client = strata::testing::RawHttpClient;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.set_keep_alive_max_count(100);
    // Echoes the path.
    server_.Get(R"(/echo/.*)", [](const httplib::Request& request, httplib::Response& response) {
      response.set_content(request.path, "text/plain");
    });
    // Echoes the body.
    server_.Post("/body", [](const httplib::Request& request, httplib::Response& response) {
      response.set_content("body:" + request.body, "text/plain");
    });
    // Watches ClientGone for `ms` milliseconds; answers "gone" or "here".
    server_.Get("/hold", [this](const httplib::Request& request, httplib::Response& response) {
      const auto until = Clock::now() + std::chrono::milliseconds(
                                            std::atoi(request.get_param_value("ms").c_str()));
      holding_ = true;
      bool gone = false;
      while (!gone && Clock::now() < until) {
        gone = HttpServer::ClientGone();
        if (!gone) std::this_thread::sleep_for(2ms);
      }
      if (gone) gone_at_ = Clock::now();
      response.set_content(gone ? "gone" : "here", "text/plain");
    });
    server_.set_error_handler([](const httplib::Request&, httplib::Response& response) {
      if (HttpServer::ReadTimedOut()) {
        response.status = 408;
        response.set_content("request timed out", "text/plain");
      }
    });
  }

  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before listening has started would be lost.
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }

  void TearDown() override {
    if (server_.is_running()) server_.stop();
    if (listener_.joinable()) listener_.join();
  }

  // Mean time of `count` GET round trips, all on one connection or each on a fresh one.
  double MeanRoundTripMs(int count, bool reuse) {
    std::optional<Client> shared;
    if (reuse) shared.emplace(port_);
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < count; ++i) {
      std::optional<Client> fresh;
      if (!reuse) fresh.emplace(port_);
      Client& client = reuse ? *shared : *fresh;
      const std::string path = "/echo/" + std::to_string(i);
      EXPECT_TRUE(client.Send(Get(path)));
      EXPECT_EQ(client.Read().body, path);
    }
    return Millis(Clock::now() - start) / count;
  }

  // A handler watching ClientGone sees the client close (or reset) within 200 ms.
  void ExpectHandlerSeesClientGo(bool reset) {
    Start();
    Client client(port_);
    ASSERT_TRUE(client.Send(Get("/hold?ms=3000")));
    const Clock::time_point wait_until = Clock::now() + kClientTimeout;
    while (!holding_ && Clock::now() < wait_until) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(holding_);
    std::this_thread::sleep_for(50ms);  // the handler is watching; nothing has changed
    EXPECT_EQ(gone_at_.load(), Clock::time_point{});
    const Clock::time_point closed = Clock::now();
    client.Close(reset);
    while (gone_at_.load() == Clock::time_point{} && Clock::now() < wait_until) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_NE(gone_at_.load(), Clock::time_point{});
    RecordProperty("gone_after_ms", std::to_string(Millis(gone_at_.load() - closed)));
    EXPECT_LT(Millis(gone_at_.load() - closed), 200.0);
  }

  HttpServer server_;
  int port_ = 0;
  std::thread listener_;
  std::atomic<bool> holding_{false};
  std::atomic<Clock::time_point> gone_at_{Clock::time_point{}};
};

TEST_F(HttpServerTest, AnswersPipelinedRequestsInOrder) {
  Start();
  Client client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Get("/echo/1") + Get("/echo/2") + Get("/echo/3")));
  for (const char* path : {"/echo/1", "/echo/2", "/echo/3"}) {
    const Client::Response response = client.Read();
    EXPECT_EQ(response.status, 200) << path;
    EXPECT_EQ(response.body, path);
  }
  // And the connection still serves.
  ASSERT_TRUE(client.Send(Get("/echo/4")));
  EXPECT_EQ(client.Read().body, "/echo/4");
}

TEST_F(HttpServerTest, MalformedRequestGets400AndClosesTheConnection) {
  // httplib answers 400 and would read on from wherever the bad request left the stream.
  Start();
  Client client(port_);
  ASSERT_TRUE(client.Send("FOO /echo/1 HTTP/1.1\r\n\r\n" + Get("/echo/2")));
  EXPECT_EQ(client.Read().status, 400);
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(HttpServerTest, PostWithoutContentLengthHasNoBody) {
  // httplib alone would read the pipelined GET as the POST's body until the read timeout.
  Start();
  Client client(port_);
  ASSERT_TRUE(client.Send("POST /body HTTP/1.1\r\nHost: test\r\n\r\n" + Get("/echo/after")));
  EXPECT_EQ(client.Read().body, "body:");
  EXPECT_EQ(client.Read().body, "/echo/after");
}

TEST_F(HttpServerTest, ReusedConnectionIsAsFastAsFreshOnes) {
  // Without TCP_NODELAY the body waits behind the headers for the client's delayed ACK:
  // ~40 ms per request on a reused connection, against well under 1 ms fresh.
  Start();
  MeanRoundTripMs(2, /*reuse=*/true);  // warm up the pool and the loopback path
  const double fresh_ms = MeanRoundTripMs(20, /*reuse=*/false);
  const double reused_ms = MeanRoundTripMs(20, /*reuse=*/true);
  RecordProperty("fresh_mean_ms", std::to_string(fresh_ms));
  RecordProperty("reused_mean_ms", std::to_string(reused_ms));
  EXPECT_LT(reused_ms, fresh_ms + 5.0)
      << "fresh " << fresh_ms << " ms, reused " << reused_ms << " ms per request";
}

TEST_F(HttpServerTest, StalledBodyGets408AndClosesTheConnection) {
  server_.set_read_timeout(300ms);
  Start();
  Client client(port_);
  const Clock::time_point sent = Clock::now();
  ASSERT_TRUE(client.Send("POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" +
                          std::string(10, 'x')));
  const Client::Response response = client.Read();
  const double waited_ms = Millis(Clock::now() - sent);
  EXPECT_EQ(response.status, 408);
  EXPECT_EQ(response.body, "request timed out");
  EXPECT_GE(waited_ms, 250.0);
  EXPECT_LT(waited_ms, 2000.0);
  // What is left of the body would be misread as the next request: the server closes.
  EXPECT_TRUE(client.ClosedByServer());

  // Other errors keep their status: the flag is per request.
  Client next(port_);
  ASSERT_TRUE(next.Send(Get("/missing")));
  EXPECT_EQ(next.Read().status, 404);
}

TEST_F(HttpServerTest, HandlerSeesItsClientClose) { ExpectHandlerSeesClientGo(/*reset=*/false); }

TEST_F(HttpServerTest, HandlerSeesItsClientReset) { ExpectHandlerSeesClientGo(/*reset=*/true); }

TEST_F(HttpServerTest, PipelinedRequestIsNotAGoneClient) {
  Start();
  Client client(port_);
  // Read along with the first request (in the server's buffer).
  ASSERT_TRUE(client.Send(Get("/hold?ms=300") + Get("/echo/a")));
  EXPECT_EQ(client.Read().body, "here");
  EXPECT_EQ(client.Read().body, "/echo/a");
  // Arriving while the handler watches (in the socket, unread).
  holding_ = false;
  ASSERT_TRUE(client.Send(Get("/hold?ms=300")));
  const Clock::time_point wait_until = Clock::now() + kClientTimeout;
  while (!holding_ && Clock::now() < wait_until) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(client.Send(Get("/echo/b")));
  EXPECT_EQ(client.Read().body, "here");
  EXPECT_EQ(client.Read().body, "/echo/b");
}

TEST_F(HttpServerTest, NoConnectionOnThisThread) {
  EXPECT_FALSE(HttpServer::ClientGone());
  EXPECT_FALSE(HttpServer::ReadTimedOut());
}

TEST_F(HttpServerTest, StopDoesNotWaitForIdleConnections) {
  server_.set_keep_alive_timeout(30);
  Start();
  Client idle_after_request(port_);
  ASSERT_TRUE(idle_after_request.Send(Get("/echo/1")));
  ASSERT_EQ(idle_after_request.Read().status, 200);
  Client never_sent(port_);
  std::this_thread::sleep_for(50ms);  // both connections are waiting for a request
  const Clock::time_point start = Clock::now();
  server_.stop();
  listener_.join();
  RecordProperty("stop_ms", std::to_string(Millis(Clock::now() - start)));
  EXPECT_LT(Millis(Clock::now() - start), 1000.0);
  EXPECT_TRUE(idle_after_request.ClosedByServer());
}

}  // namespace
}  // namespace strata::coordinator
