#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace azmi {

int DuplicateListener(int fd) {
  if (fd < 0) return -EBADF;
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return -errno;
  if (type != SOCK_STREAM) return -EINVAL;
  // TCP only (what the header promises): not a Unix-domain listener.
  sockaddr_storage address{};
  socklen_t address_len = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_len) != 0) return -errno;
  if (address.ss_family != AF_INET && address.ss_family != AF_INET6) return -EINVAL;
#ifdef SO_ACCEPTCONN
  // Only a socket in the listening state: a duplicate of a connected socket
  // would let two handles read the same byte stream.
  int listening = 0;
  len = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) return -errno;
  if (!listening) return -EINVAL;
#endif
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return copy >= 0 ? copy : -errno;
}

}  // namespace azmi
