// Probe() and ProbeMachine: connected / refused / invalid / timeout, and the
// Deadline arithmetic.
#include <arpa/inet.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

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

// ParseIpv4 must accept exactly what inet_pton(AF_INET) accepts, with the
// same address: listed edge cases, then strings built from the characters
// that matter.
void ExpectSameAsInetPton(const std::string& text) {
  in_addr ours{}, theirs{};
  bool ok = ParseIpv4(text, &ours);
  bool want = inet_pton(AF_INET, text.c_str(), &theirs) == 1 && text.find('\0') == std::string::npos;
  ASSERT_EQ(ok, want) << "'" << text << "'";
  if (ok) EXPECT_EQ(ours.s_addr, theirs.s_addr) << "'" << text << "'";
}

TEST(ParseIpv4, AgreesWithInetPtonOnEdgeCases) {
  const std::vector<std::string> cases = {
      "127.0.0.1", "0.0.0.0", "255.255.255.255", "169.254.169.254", "10.0.0.1", "1.2.3.4",
      "256.0.0.1", "1.2.3.256", "01.2.3.4", "1.2.3.04", "00.0.0.0", "0.0.0.00", "1.2.3", "1.2.3.4.5",
      "1..2.3", ".1.2.3", "1.2.3.", "", ".", "...", "1.2.3.4 ", " 1.2.3.4", "1.2.3.-4", "+1.2.3.4",
      "0x7f.0.0.1", "1e2.0.0.1", "127.1", "2130706433", "::1", "::ffff:127.0.0.1", "1.2.3.4/8",
      "999.999.999.999", "1000.0.0.1", "255.255.255.2550", std::string("127.0.0.1\0evil", 15),
  };
  for (const std::string& c : cases) ExpectSameAsInetPton(c);
}

TEST(ParseIpv4, AgreesWithInetPtonOnGeneratedStrings) {
  std::mt19937 rng(17);
  const char alphabet[] = "0123456789..:x ";
  for (int i = 0; i < 200000; ++i) {
    std::string s;
    int length = static_cast<int>(rng() % 17);
    for (int j = 0; j < length; ++j) s += alphabet[rng() % (sizeof(alphabet) - 1)];
    ExpectSameAsInetPton(s);
  }
  for (int i = 0; i < 50000; ++i) {  // well-formed shapes with edge values
    const char* parts[] = {"0", "00", "01", "9", "10", "99", "100", "199", "255", "256", "300", "999"};
    std::string s;
    int n = 3 + static_cast<int>(rng() % 3);
    for (int j = 0; j < n; ++j) s += (j ? "." : "") + std::string(parts[rng() % 12]);
    ExpectSameAsInetPton(s);
  }
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
