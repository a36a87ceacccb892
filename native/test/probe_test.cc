// Probe() and ProbeMachine: connected / refused / invalid / timeout, and the
// Deadline arithmetic.
#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "deadline.h"
#include "probe.h"

namespace azmi {
namespace {

int Listener(int* port, int backlog = 8) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(fd, backlog);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

TEST(Probe, Connected) {
  int port = 0;
  int fd = Listener(&port);
  ProbeResult r = Probe("127.0.0.1", port, 1000);
  EXPECT_STREQ(r.outcome, "connected");
  EXPECT_STREQ(r.errno_name, "");
  EXPECT_LT(r.elapsed_ms, 1000.0);
  close(fd);
}

TEST(Probe, Refused) {
  int port = 0;
  int fd = Listener(&port);
  close(fd);
  ProbeResult r = Probe("127.0.0.1", port, 1000);
  EXPECT_STREQ(r.outcome, "refused");
  EXPECT_STREQ(r.errno_name, "ECONNREFUSED");
}

TEST(Probe, InvalidAddressIsReportedNotResolved) {
  ProbeResult r = Probe("localhost", 80, 1000);
  EXPECT_STREQ(r.outcome, "unreachable");
  EXPECT_STREQ(r.errno_name, "EINVAL");
  r = Probe("127.0.0.1", 70000, 1000);
  EXPECT_STREQ(r.errno_name, "EINVAL");
  r = Probe(std::string("127.0.0.1\0x", 11), 80, 1000);
  EXPECT_STREQ(r.errno_name, "EINVAL");
}

TEST(Probe, ConnectDoesNotLeakDescriptors) {
  int port = 0;
  int fd = Listener(&port);
  int closed_port = 0;
  int closed = Listener(&closed_port);
  close(closed);
  int before = dup(0);
  close(before);
  // Connected probes stay within the listen backlog (nobody accepts here).
  for (int i = 0; i < 5; ++i) EXPECT_STREQ(Probe("127.0.0.1", port, 1000).outcome, "connected");
  for (int i = 0; i < 500; ++i) Probe("127.0.0.1", closed_port, 1000);
  int after = dup(0);
  close(after);
  EXPECT_EQ(before, after);  // the lowest free descriptor did not move
  close(fd);
}

// A listener whose accept queue is full (nobody accepts): the kernel drops
// further SYNs, so a connect to it stays in progress. Closes all on scope exit.
class FullListener {
 public:
  FullListener() : fd_(Listener(&port_, 0)) {
    for (int& filler : fillers_) {
      filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port_));
      connect(filler, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
    usleep(20 * 1000);
  }
  ~FullListener() {
    for (int filler : fillers_) close(filler);
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  int fd_;
  int fillers_[3];
};

TEST(ProbeMachine, LoopbackFinishesInsideStart) {
  int port = 0;
  int fd = Listener(&port);
  ProbeMachine m("127.0.0.1", port, 1000);
  EXPECT_EQ(m.Start(), ProbeMachine::kWantNothing);
  EXPECT_STREQ(m.result().outcome, "connected");
  EXPECT_GE(m.fd(), 0);  // the driver closes it, after it stopped watching
  m.CloseSocket();
  EXPECT_EQ(m.fd(), -1);
  close(fd);
}

TEST(ProbeMachine, WaitsForWritableThenTimesOutOnce) {
  FullListener full;
  ProbeMachine m("127.0.0.1", full.port(), 1000);
  ASSERT_EQ(m.Start(), ProbeMachine::kWantWrite);
  EXPECT_GE(m.fd(), 0);
  EXPECT_EQ(m.OnTimeout(), ProbeMachine::kWantNothing);
  EXPECT_STREQ(m.result().outcome, "timeout");
  EXPECT_STREQ(m.result().errno_name, "");
  // Done is done: a late wake-up changes nothing.
  EXPECT_EQ(m.OnReady(), ProbeMachine::kWantNothing);
  EXPECT_EQ(m.OnWaitError(ECONNRESET), ProbeMachine::kWantNothing);
  EXPECT_STREQ(m.result().outcome, "timeout");
}

TEST(ProbeMachine, WaitErrorNamesTheErrno) {
  FullListener full;
  ProbeMachine m("127.0.0.1", full.port(), 1000);
  ASSERT_EQ(m.Start(), ProbeMachine::kWantWrite);
  EXPECT_EQ(m.OnWaitError(EHOSTUNREACH), ProbeMachine::kWantNothing);
  EXPECT_STREQ(m.result().outcome, "unreachable");
  EXPECT_STREQ(m.result().errno_name, "EHOSTUNREACH");
}

TEST(Probe, TimesOutAtTheDeadlineWhenTheHandshakeNeverCompletes) {
  FullListener full;
  ProbeResult r = Probe("127.0.0.1", full.port(), 200);
  EXPECT_STREQ(r.outcome, "timeout");
  EXPECT_GE(r.elapsed_ms, 195.0);
  EXPECT_LT(r.elapsed_ms, 900.0);
}

TEST(Deadline, RemainingRoundsUpAndReachesZero) {
  Deadline d(50);
  int left = d.RemainingMs();
  EXPECT_GE(left, 49);
  EXPECT_LE(left, 50);
  usleep(60 * 1000);
  EXPECT_EQ(d.RemainingMs(), 0);
  EXPECT_TRUE(d.Expired());
  EXPECT_GE(d.ElapsedMs(), 50.0);
}

}  // namespace
}  // namespace azmi
