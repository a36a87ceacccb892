// Bounded, non-blocking TCP connect to a numeric address. Shared by the
// probe (ProbeMachine) and by the HTTP exchange (which connects the same way).
#ifndef AZMI_PROBE_H_
#define AZMI_PROBE_H_

#include <netinet/in.h>

#include <string>

#include "deadline.h"

namespace azmi {

struct ProbeResult {
  // "connected", "refused", "unreachable" or "timeout".
  const char* outcome = "timeout";
  // The errno name behind refused/unreachable; empty otherwise.
  const char* errno_name = "";
  double elapsed_ms = 0;
};

// Starts a non-blocking connect: creates the non-blocking, close-on-exec,
// TCP_NODELAY socket and calls connect() once. Returns the fd (>= 0) with
// *in_progress true when the kernel answered EINPROGRESS (wait for writable,
// then ConnectError), or -1 with *err set (EINVAL for a non-numeric ip,
// ETIMEDOUT when the deadline had already passed). Never blocks: both
// machines start with it, whichever driver then waits.
int StartConnect(const std::string& ip, int port, const Deadline& deadline, int* err, bool* in_progress);

// A dotted-quad IPv4 address exactly as inet_pton(AF_INET) reads one: four
// decimal octets of at most 255, no leading zeros, nothing else. Written
// out because the call is on a first token's path, and inet_pton sits on a
// libc page a fresh process has not touched: binding it and faulting that
// page in cost ~35 us where page faults are slow (README, session 17).
// IPv6 literals still go through inet_pton. Tested against it
// (native/test/probe_test.cc).
bool ParseIpv4(const std::string& text, in_addr* out);

// After a started connect reported writable: 0 when connected, else the
// errno the connect failed with (SO_ERROR).
int ConnectError(int fd);

// One bounded connect as a non-blocking state machine, with ExchangeMachine's
// driver contract (exchange.h): Start(), then, as the driver's wait ends,
// OnReady(), OnTimeout() or OnWaitError(), until one says kWantNothing; then
// result(). The event loop drives it for probe() (loop_driver.h); Probe()
// below drives it with poll() for the pool driver and native/test.
class ProbeMachine {
 public:
  enum Want { kWantRead, kWantWrite, kWantNothing };

  // start_ns: when the caller asked (MonotonicNs(); 0 = now), so time spent
  // before Start() (waiting for a pool thread) counts against the timeout.
  ProbeMachine(std::string ip, int port, int timeout_ms, int64_t start_ns = 0);
  ~ProbeMachine();
  ProbeMachine(const ProbeMachine&) = delete;
  ProbeMachine& operator=(const ProbeMachine&) = delete;

  // Starts the connect. May finish at once: no route, a bad address, or a
  // loopback connect the kernel completes (or refuses) inside connect().
  Want Start();
  // The socket became writable (or reported an error): the connect's outcome.
  Want OnReady();
  // The deadline passed first: "timeout".
  Want OnTimeout();
  // The wait itself failed with errno `err`, which names the outcome.
  Want OnWaitError(int err);

  // fd(), deadline() and CloseSocket() as ExchangeMachine's: a watching
  // driver stops watching before it closes the socket.
  int fd() const { return fd_; }
  const Deadline& deadline() const { return deadline_; }
  void CloseSocket();
  // Valid once a step returned kWantNothing.
  const ProbeResult& result() const { return result_; }

 private:
  // err 0: connected; ETIMEDOUT: timeout; anything else names the failure.
  Want Finish(int err);

  std::string ip_;
  int port_;
  Deadline deadline_;
  int fd_ = -1;
  bool done_ = false;
  ProbeResult result_;
};

// One connect attempt under poll(), closed straight away on success.
// start_ns as for ProbeMachine.
ProbeResult Probe(const std::string& ip, int port, int timeout_ms, int64_t start_ns = 0);

}  // namespace azmi

#endif  // AZMI_PROBE_H_
