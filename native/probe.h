// Bounded, non-blocking TCP connect to a numeric address. Shared by the
// probe entry point and by the HTTP exchange (which connects the same way).
#ifndef AZMI_PROBE_H_
#define AZMI_PROBE_H_

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
// ETIMEDOUT when the deadline had already passed). Never blocks, so the
// event-loop driver (loop_exchange.cc) uses it as well as ConnectWithin.
int StartConnect(const std::string& ip, int port, const Deadline& deadline, int* err, bool* in_progress);

// After a started connect reported writable: 0 when connected, else the
// errno the connect failed with (SO_ERROR).
int ConnectError(int fd);

// Connects within the deadline (StartConnect, then poll()). Returns the connected, non-blocking,
// close-on-exec socket (>= 0), or -1 with *err set to an errno value
// (ETIMEDOUT when the deadline passed, EINVAL for a non-numeric ip).
int ConnectWithin(const std::string& ip, int port, const Deadline& deadline, int* err);

// One connect attempt, closed straight away on success. start_ns is when the
// caller asked (MonotonicNs(); 0 = now), so queueing counts against the time.
ProbeResult Probe(const std::string& ip, int port, int timeout_ms, int64_t start_ns = 0);

}  // namespace azmi

#endif  // AZMI_PROBE_H_
