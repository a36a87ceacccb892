#include "exchange.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "blocking.h"
#include "errors.h"
#include "probe.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  // macOS: SO_NOSIGPIPE is set on the socket instead
#endif

namespace azmi {

ExchangeMachine::ExchangeMachine(const HttpRequest& request)
    : request_(request),
      deadline_(request_.timeout_ms, request_.start_ns),
      parser_(request_.max_header_bytes, request_.max_body_bytes, request_.method == "HEAD") {}

ExchangeMachine::ExchangeMachine(HttpRequest&& request)
    : owned_(std::move(request)),
      request_(owned_),
      deadline_(request_.timeout_ms, request_.start_ns),
      parser_(request_.max_header_bytes, request_.max_body_bytes, request_.method == "HEAD") {}

ExchangeMachine::~ExchangeMachine() { CloseSocket(); }

void ExchangeMachine::CloseSocket() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

const char* ExchangeMachine::Phase() const {
  switch (stage_) {
    case kWriting:
      return phase::kWrite;
    case kReading:
      return parser_.InHead() ? phase::kHeaders : phase::kBody;
    default:
      return phase::kConnect;
  }
}

ExchangeMachine::Want ExchangeMachine::Fail(const char* code, const char* phase, const char* detail) {
  outcome_.ok = false;
  outcome_.code = code;
  outcome_.phase = phase;
  outcome_.detail = detail;
  outcome_.elapsed_ms = deadline_.ElapsedMs();
  stage_ = kDone;
  return kWantNothing;
}

ExchangeMachine::Want ExchangeMachine::FailConnect(int err) {
  if (err == EINVAL) return Fail(code::kInvalidArgument, phase::kConnect, "ip is not a numeric address");
  if (err == ETIMEDOUT) return Fail(code::kTimeout, phase::kConnect, "timed out");
  return Fail(ErrnoCode(err), phase::kConnect, ErrnoDetail(err));
}

ExchangeMachine::Want ExchangeMachine::Start() {
  const char* detail = "";
  if (!BuildRequest(request_, &wire_, &detail)) return Fail(code::kInvalidArgument, phase::kConnect, detail);
  int err = 0;
  bool in_progress = false;
  fd_ = StartConnect(request_.ip, request_.port, deadline_, &err, &in_progress);
  if (fd_ < 0) return FailConnect(err);
  if (in_progress) {
    stage_ = kConnecting;
    // On loopback the handshake completes inside connect(), which still says
    // EINPROGRESS: look once without waiting (timeout 0, never blocks) and
    // carry on, which saves the event-loop driver a whole wake-up.
    pollfd pfd{fd_, POLLOUT, 0};
    if (poll(&pfd, 1, 0) == 1) return OnReady();
    return kWantWrite;
  }
  stage_ = kWriting;
  return Write();
}

ExchangeMachine::Want ExchangeMachine::OnReady() {
  switch (stage_) {
    case kConnecting: {
      int err = ConnectError(fd_);
      if (err != 0) return FailConnect(err);
      stage_ = kWriting;
      return Write();
    }
    case kWriting:
      return Write();
    case kReading:
      return Read();
    default:
      return kWantNothing;
  }
}

ExchangeMachine::Want ExchangeMachine::OnTimeout() {
  if (stage_ == kDone || stage_ == kIdle) return kWantNothing;
  return Fail(code::kTimeout, Phase(), "timed out");
}

ExchangeMachine::Want ExchangeMachine::OnWaitError(int err) {
  if (stage_ == kDone || stage_ == kIdle) return kWantNothing;
  return Fail(ErrnoCode(err), Phase(), ErrnoDetail(err));
}

ExchangeMachine::Want ExchangeMachine::Write() {
  while (sent_ < wire_.size()) {
    ssize_t n = send(fd_, wire_.data() + sent_, wire_.size() - sent_, MSG_NOSIGNAL);
    if (n >= 0) {
      sent_ += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return kWantWrite;
    int e = errno;
    return Fail(ErrnoCode(e), phase::kWrite, ErrnoDetail(e));
  }
  stage_ = kReading;
  return Read();
}

ExchangeMachine::Want ExchangeMachine::Read() {
  char buf[16384];
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    ResponseParser::Result res;
    if (n > 0) {
      res = parser_.Feed(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      res = parser_.Finish();
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return kWantRead;
    } else {
      int e = errno;
      return Fail(ErrnoCode(e), Phase(), ErrnoDetail(e));
    }
    if (res == ResponseParser::kNeedMore) {
      // A peer that keeps bytes flowing must still not outlive the deadline.
      if (deadline_.Expired()) return Fail(code::kTimeout, Phase(), "timed out");
      continue;
    }
    if (res == ResponseParser::kError) return Fail(parser_.error_code(), parser_.error_phase(), parser_.error_detail());
    outcome_.ok = true;
    outcome_.status = parser_.status();
    outcome_.status_text = parser_.status_text();
    outcome_.headers = std::move(parser_.mutable_headers());
    outcome_.body = std::move(parser_.mutable_body());
    outcome_.elapsed_ms = deadline_.ElapsedMs();
    stage_ = kDone;
    return kWantNothing;
  }
}

// The blocking driver: the state machine plus poll(), for a pool thread.
HttpOutcome Exchange(const HttpRequest& request) {
  ExchangeMachine m(request);
  RunBlocking(m);
  return std::move(m.outcome());
}

}  // namespace azmi
