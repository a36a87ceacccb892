// One HTTP/1.1 exchange as a non-blocking state machine over one socket:
// connect, write the request, read and parse the response, all under one
// absolute deadline. It never waits itself: each step says what it wants
// next (readable, writable or nothing) and the caller waits, either with
// poll() (the blocking Exchange() in exchange.cc, run on a pool thread and
// by native/test) or with uv_poll + uv_timer on the event loop
// (loop_driver.cc). Both drivers therefore share every phase, code and
// detail. Plain C++, no Node headers.
#ifndef AZMI_EXCHANGE_H_
#define AZMI_EXCHANGE_H_

#include <stddef.h>

#include <string>

#include "deadline.h"
#include "http1.h"

namespace azmi {

class ExchangeMachine {
 public:
  enum Want { kWantRead, kWantWrite, kWantNothing };

  // `request` is referenced, not copied: it must outlive the machine.
  explicit ExchangeMachine(const HttpRequest& request);
  // Takes the request over (a driver that outlives its caller's stack).
  explicit ExchangeMachine(HttpRequest&& request);
  ~ExchangeMachine();
  ExchangeMachine(const ExchangeMachine&) = delete;
  ExchangeMachine& operator=(const ExchangeMachine&) = delete;

  // Builds the request and starts the connect. May finish at once (a bad
  // argument, a refused loopback connect, or even a whole loopback exchange).
  Want Start();
  // The socket is ready for what the last Want asked (or the wait reported
  // an error condition: the next syscall says which).
  Want OnReady();
  // The deadline passed while waiting: ETIMEDOUT in the current phase.
  Want OnTimeout();
  // The wait itself failed with errno `err`.
  Want OnWaitError(int err);

  // The socket being waited on; -1 before Start and after CloseSocket.
  int fd() const { return fd_; }
  const Deadline& deadline() const { return deadline_; }
  bool done() const { return stage_ == kDone; }
  // Closes the socket (idempotent). A driver that watches the fd must stop
  // watching first, so the machine never closes it on its own.
  void CloseSocket();
  // Valid once done(); the caller may move from it.
  HttpOutcome& outcome() { return outcome_; }

 private:
  enum Stage { kIdle, kConnecting, kWriting, kReading, kDone };

  Want Fail(const char* code, const char* phase, const char* detail);
  Want FailConnect(int err);
  const char* Phase() const;
  Want Write();
  Want Read();

  HttpRequest owned_;  // the request taken over, if any; before request_, which may refer to it
  const HttpRequest& request_;
  Deadline deadline_;
  Stage stage_ = kIdle;
  int fd_ = -1;
  std::string wire_;
  size_t sent_ = 0;
  ResponseParser parser_;
  HttpOutcome outcome_;
};

}  // namespace azmi

#endif  // AZMI_EXCHANGE_H_
