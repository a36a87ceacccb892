#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "blocking.h"
#include "errors.h"

namespace azmi {

namespace {

bool ToSockaddr(const std::string& ip, int port, sockaddr_storage* out, socklen_t* len) {
  memset(out, 0, sizeof(*out));
  if (port < 0 || port > 65535) return false;
  // inet_pton stops at a NUL: "127.0.0.1\0evil" must not pass as 127.0.0.1.
  if (ip.find('\0') != std::string::npos || ip.size() > 45) return false;
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (ParseIpv4(ip, &v4->sin_addr)) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

bool ParseIpv4(const std::string& text, in_addr* out) {
  unsigned char octets[4];
  int count = 0;  // octets finished
  int value = -1;  // the octet being read; -1 before its first digit
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      if (value == 0) return false;  // a leading zero ("01")
      value = (value < 0 ? 0 : value * 10) + (c - '0');
      if (value > 255) return false;
    } else if (c == '.' && value >= 0 && count < 3) {
      octets[count++] = static_cast<unsigned char>(value);
      value = -1;
    } else {
      return false;
    }
  }
  if (count != 3 || value < 0) return false;
  octets[3] = static_cast<unsigned char>(value);
  memcpy(&out->s_addr, octets, sizeof(octets));  // network order: as written
  return true;
}

int StartConnect(const std::string& ip, int port, const Deadline& deadline, int* err, bool* in_progress) {
  *in_progress = false;
  sockaddr_storage addr;
  socklen_t addr_len = 0;
  if (!ToSockaddr(ip, port, &addr, &addr_len)) {
    *err = EINVAL;
    return -1;
  }
  // Queued past the deadline (every pool thread was busy): don't even start.
  if (deadline.Expired()) {
    *err = ETIMEDOUT;
    return -1;
  }
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
#else
  // macOS/BSD: no atomic flags; set them right after (no fork happens in between
  // on this thread, and the fd is never handed to a child).
  int fd = socket(addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
#ifdef SO_NOSIGPIPE
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on));
#endif
#endif
  // Identity requests are one small write; don't let Nagle hold it back.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return fd;
  if (errno != EINPROGRESS) {
    *err = errno;
    close(fd);
    return -1;
  }
  *in_progress = true;
  return fd;
}

int ConnectError(int fd) {
  int so_error = 0;
  socklen_t so_len = sizeof(so_error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) < 0) so_error = errno;
  return so_error;
}

ProbeMachine::ProbeMachine(std::string ip, int port, int timeout_ms, int64_t start_ns)
    : ip_(std::move(ip)), port_(port), deadline_(timeout_ms, start_ns) {}

ProbeMachine::~ProbeMachine() { CloseSocket(); }

void ProbeMachine::CloseSocket() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

ProbeMachine::Want ProbeMachine::Start() {
  int err = 0;
  bool in_progress = false;
  fd_ = StartConnect(ip_, port_, deadline_, &err, &in_progress);
  if (fd_ < 0) return Finish(err);
  if (!in_progress) return Finish(0);
  // On loopback the kernel completes (or refuses) the handshake inside
  // connect(), which still says EINPROGRESS: look once without waiting and
  // spare the driver a wake-up (as ExchangeMachine::Start does).
  pollfd pfd{fd_, POLLOUT, 0};
  if (poll(&pfd, 1, 0) == 1) return OnReady();
  return kWantWrite;
}

ProbeMachine::Want ProbeMachine::OnReady() {
  if (done_ || fd_ < 0) return kWantNothing;
  return Finish(ConnectError(fd_));
}

ProbeMachine::Want ProbeMachine::OnTimeout() {
  if (done_ || fd_ < 0) return kWantNothing;
  return Finish(ETIMEDOUT);
}

ProbeMachine::Want ProbeMachine::OnWaitError(int err) {
  if (done_ || fd_ < 0) return kWantNothing;
  return Finish(err);
}

ProbeMachine::Want ProbeMachine::Finish(int err) {
  done_ = true;
  result_.elapsed_ms = deadline_.ElapsedMs();
  switch (err) {
    case 0:
      result_.outcome = "connected";
      break;
    case ETIMEDOUT:
      result_.outcome = "timeout";
      break;
    case ECONNREFUSED:
      result_.outcome = "refused";
      result_.errno_name = ErrnoName(err);
      break;
    default:
      // ENETUNREACH, EHOSTUNREACH and any other failure: nothing can be
      // reached there now, and the errno says which.
      result_.outcome = "unreachable";
      result_.errno_name = ErrnoName(err);
      break;
  }
  return kWantNothing;
}

ProbeResult Probe(const std::string& ip, int port, int timeout_ms, int64_t start_ns) {
  ProbeMachine machine(ip, port, timeout_ms, start_ns);
  RunBlocking(machine);
  return machine.result();
}

}  // namespace azmi
