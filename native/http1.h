// HTTP/1.1 framing: the request serialiser and the strict, incremental
// response parser (http1.cc); the exchange over a socket is exchange.{h,cc}. Plain C++, no Node headers: native/test drives the
// parser directly (unit tests and the libFuzzer target).
#ifndef AZMI_HTTP1_H_
#define AZMI_HTTP1_H_

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <utility>
#include <vector>

namespace azmi {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Strict response parser. Accepts CRLF line endings only, no obs-fold, token
// header names, Content-Length (identical repeats allowed), chunked with
// extensions and trailers, close-delimited bodies, and skips 1xx interim
// responses (except 101). Caps: status line + headers (+ trailers) together
// at max_header_bytes, decoded body at max_body_bytes.
class ResponseParser {
 public:
  enum Result { kNeedMore, kDone, kError };

  ResponseParser(size_t max_header_bytes, size_t max_body_bytes, bool head_request = false);

  // Feeds bytes as they arrive. Bytes after a complete response are ignored.
  Result Feed(const char* data, size_t len);
  // The peer closed the connection: completes a close-delimited body, or
  // reports an incomplete response as ECONNRESET.
  Result Finish();

  // True while the status line or headers are still being read.
  bool InHead() const;
  bool done() const { return state_ == kStateDone; }

  int status() const { return status_; }
  const std::string& status_text() const { return status_text_; }
  // Lower-cased names, in arrival order, repeats kept (the caller joins).
  const HeaderList& headers() const { return headers_; }
  const std::string& body() const { return body_; }
  std::string& mutable_body() { return body_; }
  HeaderList& mutable_headers() { return headers_; }

  const char* error_code() const { return error_code_; }
  const char* error_phase() const { return error_phase_; }
  const char* error_detail() const { return error_detail_; }

 private:
  enum State {
    kStateStatus,
    kStateHeader,
    kStateBodyLength,
    kStateBodyClose,
    kStateChunkSize,
    kStateChunkData,
    kStateChunkDataEnd,
    kStateTrailer,
    kStateDone,
    kStateError,
  };

  Result Fail(const char* code, const char* detail);
  // Consumes bytes into line_ up to and including LF. Returns bytes used, sets
  // *complete when a whole line (without CRLF) is in line_.
  size_t TakeLine(const char* data, size_t len, bool* complete, bool counts_as_head);
  bool ParseStatusLine();
  bool ParseHeaderLine(bool trailer);
  bool StartBody();
  bool ParseChunkSize();

  size_t max_header_bytes_;
  size_t max_body_bytes_;
  bool head_request_;
  State state_ = kStateStatus;
  size_t head_bytes_ = 0;
  std::string line_;
  int status_ = 0;
  std::string status_text_;
  HeaderList headers_;
  std::string body_;
  uint64_t remaining_ = 0;
  int chunk_end_seen_ = 0;
  const char* error_code_ = "";
  const char* error_phase_ = "";
  const char* error_detail_ = "";
};

struct HttpRequest {
  std::string ip;  // numeric IPv4 or IPv6
  int port = 80;
  std::string method = "GET";
  std::string path = "/";
  HeaderList headers;
  std::string body;
  int timeout_ms = 1000;
  // When the caller asked (MonotonicNs(); 0 = when Exchange starts): time
  // spent queued for a pool thread counts against timeout_ms.
  int64_t start_ns = 0;
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
};

struct HttpOutcome {
  bool ok = false;
  int status = 0;
  std::string status_text;
  HeaderList headers;
  std::string body;
  // Failure facts (static strings), empty when ok.
  const char* code = "";
  const char* phase = "";
  const char* detail = "";
  double elapsed_ms = 0;
};

// Serialises the request head and body; false (with *detail) when a field
// would break framing (the C++ side defends itself even though TS validates).
bool BuildRequest(const HttpRequest& request, std::string* out, const char** detail);

// Connect, write, read and parse under one absolute deadline, blocking the
// calling thread (poll()); defined in exchange.cc over ExchangeMachine, which
// the event-loop driver (loop_driver.cc) steps without blocking.
HttpOutcome Exchange(const HttpRequest& request);

}  // namespace azmi

#endif  // AZMI_HTTP1_H_
