// DuplicateListener(): a second descriptor on a listening socket's accept
// queue, refused for anything else.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <string.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "listener.h"

namespace azmi {
namespace {

int BoundSocket(int type, int* port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  return fd;
}

TEST(DuplicateListener, SharesTheAcceptQueue) {
  int port = 0;
  int fd = BoundSocket(SOCK_STREAM, &port);
  ASSERT_EQ(listen(fd, 8), 0);
  int copy = DuplicateListener(fd);
  ASSERT_GE(copy, 0);
  EXPECT_NE(copy, fd);
  EXPECT_TRUE(fcntl(copy, F_GETFD) & FD_CLOEXEC);
  // A connection queued on the port is accepted through the copy, and the
  // original still works after the copy is closed.
  int client = ConnectTo(port);
  int accepted = accept(copy, nullptr, nullptr);
  EXPECT_GE(accepted, 0);
  close(accepted);
  close(client);
  close(copy);
  client = ConnectTo(port);
  accepted = accept(fd, nullptr, nullptr);
  EXPECT_GE(accepted, 0);
  close(accepted);
  close(client);
  close(fd);
}

TEST(DuplicateListener, RefusesASocketThatIsNotListening) {
  int port = 0;
  int fd = BoundSocket(SOCK_STREAM, &port);
  EXPECT_EQ(DuplicateListener(fd), -EINVAL);
  close(fd);
}

TEST(DuplicateListener, RefusesADatagramSocket) {
  int port = 0;
  int fd = BoundSocket(SOCK_DGRAM, &port);
  EXPECT_EQ(DuplicateListener(fd), -EINVAL);
  close(fd);
}

TEST(DuplicateListener, RefusesAConnectedSocket) {
  int port = 0;
  int fd = BoundSocket(SOCK_STREAM, &port);
  ASSERT_EQ(listen(fd, 8), 0);
  int client = ConnectTo(port);
  int accepted = accept(fd, nullptr, nullptr);
  EXPECT_EQ(DuplicateListener(client), -EINVAL);
  EXPECT_EQ(DuplicateListener(accepted), -EINVAL);
  close(accepted);
  close(client);
  close(fd);
}

TEST(DuplicateListener, RefusesAUnixDomainListener) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  // An abstract address (leading NUL): nothing on disk to clean up.
  const char name[] = "\0azmi-listener-test";
  memcpy(a.sun_path, name, sizeof(name) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), offsetof(sockaddr_un, sun_path) + sizeof(name) - 1), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  EXPECT_EQ(DuplicateListener(fd), -EINVAL);
  close(fd);
}

TEST(DuplicateListener, RefusesWhatIsNotASocket) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  EXPECT_EQ(DuplicateListener(pipefd[0]), -ENOTSOCK);
  close(pipefd[0]);
  close(pipefd[1]);
  EXPECT_EQ(DuplicateListener(-1), -EBADF);
  EXPECT_EQ(DuplicateListener(pipefd[0]), -EBADF);  // closed above
}

}  // namespace
}  // namespace azmi
