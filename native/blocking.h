// The blocking driver of a socket machine (ExchangeMachine in exchange.h,
// ProbeMachine in probe.h): poll() on its socket for what it wants until it
// wants nothing more, under its own deadline. Pool threads and native/test
// run machines this way; the event loop runs the same machines without
// blocking (loop_driver.h).
#ifndef AZMI_BLOCKING_H_
#define AZMI_BLOCKING_H_

#include <errno.h>
#include <poll.h>

#include "deadline.h"

namespace azmi {

// Waits for `events` on fd until the deadline. 1 ready, 0 timed out, -1 error.
inline int WaitFor(int fd, short events, const Deadline& deadline) {
  for (;;) {
    int left = deadline.RemainingMs();
    if (left <= 0) return 0;
    pollfd pfd{fd, events, 0};
    int n = poll(&pfd, 1, left);
    if (n > 0) return 1;
    if (n < 0 && errno != EINTR) return -1;
  }
}

// Runs `machine` to the end, then closes its socket.
template <class Machine>
void RunBlocking(Machine& machine) {
  typename Machine::Want want = machine.Start();
  while (want != Machine::kWantNothing) {
    int w = WaitFor(machine.fd(), want == Machine::kWantRead ? POLLIN : POLLOUT, machine.deadline());
    if (w == 1) want = machine.OnReady();
    else if (w == 0) want = machine.OnTimeout();
    else want = machine.OnWaitError(errno);
  }
  machine.CloseSocket();
}

}  // namespace azmi

#endif  // AZMI_BLOCKING_H_
