// Probe(): connected / refused / invalid, and the Deadline arithmetic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "deadline.h"
#include "probe.h"

namespace azmi {
namespace {

int Listener(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(fd, 8);
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
