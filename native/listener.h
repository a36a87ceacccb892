// A second descriptor for a listening TCP socket, so that the event loop can
// watch the same accept queue through several handles. Since libuv 1.45
// (Node 20) a listening handle accepts one connection per loop turn, and a
// turn also serves every busy keep-alive connection: a burst of N new
// connections then waits about N turns. With K descriptors on the one queue,
// each ready in the same epoll_wait, a turn accepts up to K.
#ifndef AZMI_LISTENER_H_
#define AZMI_LISTENER_H_

namespace azmi {

// A close-on-exec duplicate of fd (>= 0), or -errno: -ENOTSOCK when fd is not
// a socket, -EINVAL when it is not a listening TCP (IPv4/IPv6 stream) socket,
// -EBADF when it is not open. Never blocks.
int DuplicateListener(int fd);

}  // namespace azmi

#endif  // AZMI_LISTENER_H_
