// Exchange() and the ExchangeMachine it steps, against loopback servers on
// threads; BuildRequest's bytes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <poll.h>

#include "exchange.h"
#include "http1.h"

namespace azmi {
namespace {

// Listens on 127.0.0.1:0; for one connection reads the request head, then
// writes `reply` (unless empty) and closes after `hold_ms`.
class OneShotServer {
 public:
  OneShotServer(std::string reply, int hold_ms = 0) : reply_(std::move(reply)), hold_ms_(hold_ms) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 4);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  std::string request() const { return request_; }

 private:
  void Serve() {
    int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    if (!reply_.empty()) send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    if (hold_ms_ > 0) usleep(hold_ms_ * 1000);
    close(c);
  }
  std::string reply_;
  int hold_ms_;
  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

HttpRequest Req(int port, int timeout_ms = 2000) {
  HttpRequest r;
  r.ip = "127.0.0.1";
  r.port = port;
  r.path = "/metadata/identity/oauth2/token?api-version=2018-02-01";
  r.headers = {{"Metadata", "true"}};
  r.timeout_ms = timeout_ms;
  return r;
}

TEST(Exchange, ReadsAResponse) {
  OneShotServer srv("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
  HttpOutcome o = Exchange(Req(srv.port()));
  ASSERT_TRUE(o.ok) << o.code << " " << o.detail;
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.body, "{}");
  EXPECT_EQ(srv.request(), "GET /metadata/identity/oauth2/token?api-version=2018-02-01 HTTP/1.1\r\nHost: 127.0.0.1:" +
                               std::to_string(srv.port()) + "\r\nMetadata: true\r\nConnection: close\r\n\r\n");
}

TEST(Exchange, SilentServerHitsTheDeadline) {
  OneShotServer srv("", 600);
  HttpOutcome o = Exchange(Req(srv.port(), 200));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.code, "ETIMEDOUT");
  EXPECT_STREQ(o.phase, "headers");
  EXPECT_GE(o.elapsed_ms, 199.0);
  EXPECT_LT(o.elapsed_ms, 600.0);
}

TEST(Exchange, ClosedPortIsRefused) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);  // bound, never listened: nothing there
  HttpOutcome o = Exchange(Req(ntohs(a.sin_port)));
  EXPECT_FALSE(o.ok);
  EXPECT_STREQ(o.code, "ECONNREFUSED");
  EXPECT_STREQ(o.phase, "connect");
  EXPECT_STREQ(o.detail, "connection refused");
}

TEST(Exchange, NonNumericIpNeverConnects) {
  HttpRequest r = Req(80);
  r.ip = "metadata.azure.internal";
  HttpOutcome o = Exchange(r);
  EXPECT_STREQ(o.code, "ERR_INVALID_ARGUMENT");
}

// The event-loop driver relies on this: Start() and every step return at
// once with what to wait for, and never wait themselves.
TEST(ExchangeMachine, StepsNeverWaitAndTimeoutNamesThePhase) {
  OneShotServer silent("", 400);
  HttpRequest r = Req(silent.port(), 5000);
  ExchangeMachine m(r);
  int64_t t0 = MonotonicNs();
  EXPECT_EQ(m.Start(), ExchangeMachine::kWantRead);  // connected and wrote on loopback; waits for headers
  EXPECT_LT((MonotonicNs() - t0) / 1000000, 200);
  EXPECT_FALSE(m.done());
  EXPECT_GE(m.fd(), 0);
  EXPECT_EQ(m.OnTimeout(), ExchangeMachine::kWantNothing);
  EXPECT_FALSE(m.outcome().ok);
  EXPECT_STREQ(m.outcome().code, "ETIMEDOUT");
  EXPECT_STREQ(m.outcome().phase, "headers");
  m.CloseSocket();
  EXPECT_EQ(m.fd(), -1);
}

// Two exchanges on one thread, one poll() over both: the answering server's
// response completes while the silent one is still pending.
TEST(ExchangeMachine, TwoExchangesInterleaveOnOneThread) {
  OneShotServer answering("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0);
  OneShotServer silent("", 600);
  HttpRequest ra = Req(answering.port(), 3000);
  HttpRequest rs = Req(silent.port(), 300);
  ExchangeMachine a(ra), s(rs);
  ExchangeMachine::Want wa = a.Start(), ws = s.Start();
  bool silent_pending_when_a_done = wa == ExchangeMachine::kWantNothing && !s.done();
  while (wa != ExchangeMachine::kWantNothing || ws != ExchangeMachine::kWantNothing) {
    pollfd fds[2];
    int n = 0;
    ExchangeMachine* who[2];
    for (auto [m, w] : {std::pair<ExchangeMachine*, ExchangeMachine::Want>{&a, wa}, {&s, ws}}) {
      if (w == ExchangeMachine::kWantNothing) continue;
      fds[n] = pollfd{m->fd(), static_cast<short>(w == ExchangeMachine::kWantRead ? POLLIN : POLLOUT), 0};
      who[n++] = m;
    }
    int left = ws != ExchangeMachine::kWantNothing ? s.deadline().RemainingMs() : a.deadline().RemainingMs();
    int ready = poll(fds, static_cast<nfds_t>(n), left);
    ASSERT_GE(ready, 0);
    for (int i = 0; i < n; ++i) {
      ExchangeMachine::Want w = ExchangeMachine::kWantNothing;
      if (fds[i].revents != 0) w = who[i]->OnReady();
      else if (who[i]->deadline().Expired()) w = who[i]->OnTimeout();
      else w = fds[i].events & POLLIN ? ExchangeMachine::kWantRead : ExchangeMachine::kWantWrite;
      if (who[i] == &a) {
        wa = w;
        if (w == ExchangeMachine::kWantNothing) silent_pending_when_a_done = !s.done();
      } else {
        ws = w;
      }
    }
  }
  ASSERT_TRUE(a.outcome().ok) << a.outcome().code;
  EXPECT_EQ(a.outcome().body, "{}");
  EXPECT_TRUE(silent_pending_when_a_done);
  EXPECT_STREQ(s.outcome().code, "ETIMEDOUT");
  EXPECT_STREQ(s.outcome().phase, "headers");
}

TEST(BuildRequest, AddsHostLengthConnection) {
  HttpRequest r = Req(50342);
  r.method = "POST";
  r.path = "/oauth2/token";
  r.body = "resource=x";
  std::string wire;
  const char* detail = "";
  ASSERT_TRUE(BuildRequest(r, &wire, &detail));
  EXPECT_EQ(wire,
            "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:50342\r\nMetadata: true\r\nContent-Length: 10\r\nConnection: "
            "close\r\n\r\nresource=x");
  r.ip = "::1";
  r.port = 80;
  r.body.clear();
  r.method = "GET";
  ASSERT_TRUE(BuildRequest(r, &wire, &detail));
  EXPECT_EQ(wire, "GET /oauth2/token HTTP/1.1\r\nHost: [::1]\r\nMetadata: true\r\nConnection: close\r\n\r\n");
}

TEST(BuildRequest, RefusesWhatWouldBreakFraming) {
  std::string wire;
  const char* detail = "";
  HttpRequest r = Req(80);
  r.headers = {{"X", "a\r\nInjected: 1"}};
  EXPECT_FALSE(BuildRequest(r, &wire, &detail));
  EXPECT_STREQ(detail, "invalid header value");
  r = Req(80);
  r.headers = {{"Bad Name", "v"}};
  EXPECT_FALSE(BuildRequest(r, &wire, &detail));
  r = Req(80);
  r.path = "/a b";
  EXPECT_FALSE(BuildRequest(r, &wire, &detail));
  r = Req(80);
  r.method = "GE T";
  EXPECT_FALSE(BuildRequest(r, &wire, &detail));
  r = Req(80);
  r.headers = {{"Transfer-Encoding", "chunked"}};
  EXPECT_FALSE(BuildRequest(r, &wire, &detail));
}

}  // namespace
}  // namespace azmi
